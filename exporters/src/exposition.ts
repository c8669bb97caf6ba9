/**
 * Renders metric families straight from rows into the Prometheus text format and OpenMetrics,
 * for the per-workflow families whose size grows with the number of workflows (tens of
 * thousands of series at 1,000 clients × 20 workflows). prom-client keeps one object per series
 * and hashes every label set on each update, which at that size costs about a second and a few
 * hundred MB per render; these families are rendered once per n8n poll instead, right after the
 * ingestion that changes them, and every scrape appends the cached text.
 */

import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

export type Labels = readonly (readonly [string, string])[];
export type FamilyType = 'counter' | 'gauge';

export interface Family {
  name: string;
  type: FamilyType;
  help: string;
  samples: Iterable<readonly [Labels, number]>;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** One rendered family: its header in each format and its sample lines (shared by both). */
export interface RenderedFamily {
  textHeader: string;
  openMetricsHeader: string;
  samples: string;
}

function header(f: Family): { textHeader: string; openMetricsHeader: string } {
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(f.name)) throw new Error(`invalid metric name ${f.name}`);
  if (f.type === 'counter' && !f.name.endsWith('_total')) throw new Error(`counter ${f.name} must end in _total`);
  const help = escapeHelp(f.help);
  const omName = f.type === 'counter' ? f.name.slice(0, -'_total'.length) : f.name;
  return {
    textHeader: `# HELP ${f.name} ${help}\n# TYPE ${f.name} ${f.type}\n`,
    openMetricsHeader: `# HELP ${omName} ${help}\n# TYPE ${omName} ${f.type}\n`,
  };
}

function sampleLine(name: string, labels: Labels, value: number): string {
  const l = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
  return `${name}${l} ${formatValue(value)}\n`;
}

/**
 * Renders families, giving the event loop back every `yieldEvery` samples so that scrapes
 * served meanwhile are not held up by a large render.
 */
export async function renderFamiliesAsync(families: Iterable<Family>, yieldEvery = 2000): Promise<RenderedFamily[]> {
  const out: RenderedFamily[] = [];
  let n = 0;
  for (const f of families) {
    const lines: string[] = [];
    for (const [labels, value] of f.samples) {
      lines.push(sampleLine(f.name, labels, value));
      if (++n % yieldEvery === 0) await new Promise((r) => setImmediate(r));
    }
    out.push({ ...header(f), samples: lines.join('') });
  }
  return out;
}

/** The parts of rendered families in one format, in order (OpenMetrics without `# EOF`). */
export function familyParts(rendered: readonly RenderedFamily[], openMetrics: boolean): string[] {
  return rendered.flatMap((r) => [openMetrics ? r.openMetricsHeader : r.textHeader, r.samples]);
}

/** Renders families synchronously (for the few thousand series that grow with clients). */
export function renderFamilies(families: readonly Family[]): RenderedFamily[] {
  return families.map((f) => {
    const lines: string[] = [];
    for (const [labels, value] of f.samples) lines.push(sampleLine(f.name, labels, value));
    return { ...header(f), samples: lines.join('') };
  });
}

/**
 * A rendered family held as bytes, plain and gzip-compressed, so a scrape writes it without
 * encoding or compressing it again. Each piece is a complete gzip member: concatenated members
 * form one valid gzip stream (RFC 1952 §2.2), which Prometheus' and Node's decoders read whole.
 */
export interface EncodedFamily {
  textHeader: Buffer;
  openMetricsHeader: Buffer;
  samples: Buffer;
  gzip: { textHeader: Buffer; openMetricsHeader: Buffer; samples: Buffer };
}

const gzipAsync = promisify(gzip);
/** Level 1: on this text about 8× smaller, at a fraction of the CPU of the default level. */
export const gzipBytes = (b: Buffer | string) => gzipAsync(b, { level: 1 });

export async function encodeFamilies(rendered: readonly RenderedFamily[]): Promise<EncodedFamily[]> {
  const out: EncodedFamily[] = [];
  for (const r of rendered) {
    const textHeader = Buffer.from(r.textHeader);
    const openMetricsHeader = Buffer.from(r.openMetricsHeader);
    const samples = Buffer.from(r.samples);
    const [gt, go, gs] = await Promise.all([gzipBytes(textHeader), gzipBytes(openMetricsHeader), gzipBytes(samples)]);
    out.push({ textHeader, openMetricsHeader, samples, gzip: { textHeader: gt, openMetricsHeader: go, samples: gs } });
  }
  return out;
}

/** The pieces of encoded families in one format, plain or gzip-compressed. */
export function encodedParts(families: readonly EncodedFamily[], openMetrics: boolean, compressed: boolean): Buffer[] {
  return families.flatMap((f) => {
    const src = compressed ? f.gzip : f;
    return [openMetrics ? src.openMetricsHeader : src.textHeader, src.samples];
  });
}
