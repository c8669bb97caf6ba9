import { growthChart, growthPanels } from './chart';
import { BEGIN, END, SECTION, growthBlock, growthTable, replaceBlock } from './docs';
import type { GrowthRow } from './results';

const SIZES = [100, 1000, 5000, 10000];

function row(clients: number, exporterFails = false): GrowthRow {
  const k = clients / 1000;
  return {
    clients,
    workflows: clients * 20,
    events: clients * 500,
    invoices: clients * 100,
    databaseBytes: clients * 110_000,
    seedSeconds: k * 30,
    loadAverage: 1.2,
    exporter: exporterFails
      ? { error: 'out of memory (heap limit 96 MB)' }
      : {
          readySeconds: k,
          series: clients * 98,
          bodyBytes: clients * 9600,
          scrapeMedianMs: 6 * k,
          scrapeP99Ms: 10 * k,
          peakRssMb: 80 + 6 * k,
          collectorsDown: 0,
        },
    webhookEventsPerSecond: 1400 - k,
    webhookP99Ms: 20,
    webhookErrors: 0,
    readP50Ms: 4,
    readP99Ms: 13 + k,
    readErrors: 0,
    backupSeconds: 0.5 + k / 2,
    backupObjectBytes: clients * 25_000,
  };
}

/** The text of every <text> element of an SVG document. */
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

/** The polylines drawn through `points` points (a path of one move and points-1 segments). */
const polylines = (svg: string, points: number) =>
  [...svg.matchAll(/<path d="(M[^"]*)"[^>]*fill="none"[^>]*stroke-width="2"/g)].filter(
    (m) => (m[1]!.match(/L/g) ?? []).length === points - 1,
  );

describe('growth chart', () => {
  const rows = SIZES.map((c) => row(c));
  const svg = growthChart(rows);
  const series = growthPanels(rows).flatMap((p) => p.series.map((s) => s.name));

  it('is an SVG document', () => {
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });

  it('draws one line per measurement through every size, each named once in a legend', () => {
    expect(series).toEqual(expect.arrayContaining(['scrape p99', 'VmHWM', 'events/s at 16 connections', 'read p99', 'backup wall time']));
    expect(new Set(series).size).toBe(series.length);
    expect(polylines(svg, SIZES.length)).toHaveLength(series.length);
    for (const name of series) expect(texts(svg).filter((t) => t === name)).toHaveLength(1);
  });

  it('labels the clients axis of every panel with the sizes measured', () => {
    const panels = growthPanels(rows).length;
    for (const label of ['100', '1,000', '5,000', '10,000'])
      expect(texts(svg).filter((t) => t === label).length).toBeGreaterThanOrEqual(panels);
    expect(texts(svg).filter((t) => t === 'clients')).toHaveLength(panels);
  });

  it('leaves a gap where the exporter has no figure, and says why', () => {
    const failed = growthChart([...SIZES.slice(0, 3).map((c) => row(c)), row(10000, true)]);
    const exporterSeries = growthPanels(rows)
      .filter((p) => p.title.startsWith('Exporter'))
      .flatMap((p) => p.series).length;
    expect(polylines(failed, 3)).toHaveLength(exporterSeries);
    expect(polylines(failed, 4)).toHaveLength(series.length - exporterSeries);
    expect(texts(failed)).toEqual(expect.arrayContaining(['no figure at 10,000 clients:', 'out of memory (heap limit 96 MB)']));
  });
});

describe('growth block of docs/benchmarks.md', () => {
  const rows = SIZES.map((c) => row(c));
  const info = {
    command: 'BENCH_WRITE_DOCS=1 npm run bench:growth',
    date: new Date('2026-12-02T17:00:00Z'),
    totalSeconds: 900,
    image: 'images/benchmarks/growth.svg',
    method: 'How.',
  };
  const block = growthBlock(rows, info);

  it('holds the table, the command, the date and the chart between its markers', () => {
    expect(block.startsWith(BEGIN)).toBe(true);
    expect(block.endsWith(END)).toBe(true);
    expect(block).toContain(growthTable(rows));
    expect(block).toContain('`BENCH_WRITE_DOCS=1 npm run bench:growth`');
    expect(block).toContain('2026-12-02 17:00 UTC');
    expect(block).toContain('](images/benchmarks/growth.svg)');
    expect(growthTable(rows).split('\n')).toHaveLength(2 + SIZES.length);
  });

  it('replaces only its own block', () => {
    const before = `# Benchmarks\n\n## Exporters\n\n<!-- exporters:begin -->\nold exporters\n<!-- exporters:end -->\n\n${SECTION}\n\nIntro kept.\n\n`;
    const after = '\n\nWhat the figures say, kept.\n\n## Tenant proxy\n\nkept\n';
    const doc = `${before}${BEGIN}\nold figures\n${END}${after}`;
    expect(replaceBlock(doc, block)).toBe(`${before}${block}${after}`);
    // Writing twice changes nothing more.
    expect(replaceBlock(replaceBlock(doc, block), block)).toBe(replaceBlock(doc, block));
  });

  it('adds the section at the end when there is no block yet, and refuses a half block', () => {
    expect(replaceBlock('# Benchmarks\n\n## API\n\ntext\n', block)).toBe(`# Benchmarks\n\n## API\n\ntext\n\n${SECTION}\n\n${block}\n`);
    expect(() => replaceBlock(`# Benchmarks\n${BEGIN}\nno end\n`, block)).toThrow(/without its pair/);
  });
});
