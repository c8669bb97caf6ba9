/** The growth benchmark's figures as markdown, and their block in docs/benchmarks.md. */
import { exporterOk, thousands, type GrowthRow } from './results';

export const BEGIN = '<!-- growth:begin -->';
export const END = '<!-- growth:end -->';
export const SECTION = '## How cost grows';

const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '—');
const mb = (bytes: number) => `${bytes < 10e6 ? (bytes / 1e6).toFixed(1) : thousands(bytes / 1e6)} MB`;

export function growthTable(rows: GrowthRow[]): string {
  const lines = [
    '| clients | workflows | events | invoices | database | exporter series | exporter start to first full scrape | scrape median / p99 | exporter peak RSS | webhook durable events/s (p99) | `GET /api/clients` p50 / p99 | `ct backup run` | backup object | load avg |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const e = exporterOk(r);
    const failed = 'error' in r.exporter ? `failed: ${r.exporter.error}` : '';
    const down = e && e.collectorsDown > 0 ? ` (${e.collectorsDown} collectors down)` : '';
    const cells = [
      thousands(r.clients),
      thousands(r.workflows),
      thousands(r.events),
      thousands(r.invoices),
      mb(r.databaseBytes),
      e ? thousands(e.series) : failed,
      e ? `${f1(e.readySeconds)} s` : '—',
      e ? `${f1(e.scrapeMedianMs)} / ${f1(e.scrapeP99Ms)} ms${down}` : '—',
      e ? `${f1(e.peakRssMb)} MB` : '—',
      `${thousands(r.webhookEventsPerSecond)} (${f1(r.webhookP99Ms)} ms)${r.webhookErrors ? `, ${r.webhookErrors} errors` : ''}`,
      `${f1(r.readP50Ms)} / ${f1(r.readP99Ms)} ms${r.readErrors ? `, ${r.readErrors} errors` : ''}`,
      `${f1(r.backupSeconds)} s`,
      mb(r.backupObjectBytes),
      r.loadAverage.toFixed(1),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** How each figure moved from the smallest size measured to the largest, as ratios. */
export function growthSummary(rows: GrowthRow[]): string[] {
  if (rows.length < 2) return [];
  const a = rows[0]!;
  const b = rows[rows.length - 1]!;
  const ratio = (x: number | undefined, y: number | undefined) => (x && y ? `${(y / x).toFixed(2)}×` : '—');
  const ea = exporterOk(a);
  const eb = exporterOk(b);
  const lastExporter = [...rows].reverse().find((r) => exporterOk(r));
  return [
    `From ${thousands(a.clients)} to ${thousands(b.clients)} clients (${(b.clients / a.clients).toFixed(0)}× the clients, ${ratio(a.databaseBytes, b.databaseBytes)} the database):`,
    eb && ea
      ? `scrape p99 ${ratio(ea.scrapeP99Ms, eb.scrapeP99Ms)}, exporter peak RSS ${ratio(ea.peakRssMb, eb.peakRssMb)}, series ${ratio(ea.series, eb.series)};`
      : `the exporter has no figure at ${thousands(b.clients)} clients (largest measured: ${lastExporter ? thousands(lastExporter.clients) : 'none'});`,
    `webhook events/s ${ratio(a.webhookEventsPerSecond, b.webhookEventsPerSecond)}, read p99 ${ratio(a.readP99Ms, b.readP99Ms)}, backup time ${ratio(a.backupSeconds, b.backupSeconds)}, backup object ${ratio(a.backupObjectBytes, b.backupObjectBytes)}.`,
  ];
}

export interface BlockInfo {
  command: string;
  /** When the run ended. */
  date: Date;
  totalSeconds: number;
  /** The chart, relative to docs/. */
  image: string;
  /** One line on how the run was made (phase lengths, scrapes). */
  method: string;
}

export function growthBlock(rows: GrowthRow[], info: BlockInfo): string {
  return [
    BEGIN,
    `_Measured ${info.date.toISOString().slice(0, 16).replace('T', ' ')} UTC on the 2-core bench machine: \`${info.command}\`, ${(info.totalSeconds / 60).toFixed(1)} minutes in all._`,
    '',
    info.method,
    '',
    growthTable(rows),
    '',
    growthSummary(rows).join(' '),
    '',
    `![Exporter scrape time and memory, webhook ingest, API reads, backup time and size against the number of clients](${info.image})`,
    END,
  ].join('\n');
}

/**
 * `text` with its growth block replaced by `block`, and nothing else changed; without a block,
 * the section is appended at the end with the block in it.
 */
export function replaceBlock(text: string, block: string): string {
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start >= 0 && end > start) return text.slice(0, start) + block + text.slice(end + END.length);
  if (start >= 0 || end >= 0) throw new Error(`docs/benchmarks.md has ${start >= 0 ? BEGIN : END} without its pair`);
  return `${text.trimEnd()}\n\n${SECTION}\n\n${block}\n`;
}
