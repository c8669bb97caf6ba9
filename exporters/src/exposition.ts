/**
 * Renders metric families straight from rows into the Prometheus text format and OpenMetrics,
 * for the per-workflow families whose size grows with the number of workflows (tens of
 * thousands of series at 1,000 clients × 20 workflows). prom-client keeps one object per series
 * and hashes every label set on each update, which at that size costs about a second and a few
 * hundred MB per render; these families are rendered once per n8n poll instead, right after the
 * ingestion that changes them, and every scrape appends the cached text.
 */

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

/** Both formats of a set of families; OpenMetrics without its closing `# EOF`. */
export function renderFamilies(families: readonly Family[]): { text: string; openMetrics: string } {
  const text: string[] = [];
  const om: string[] = [];
  for (const f of families) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(f.name)) throw new Error(`invalid metric name ${f.name}`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) throw new Error(`counter ${f.name} must end in _total`);
    const help = escapeHelp(f.help);
    const omName = f.type === 'counter' ? f.name.slice(0, -'_total'.length) : f.name;
    text.push(`# HELP ${f.name} ${help}\n# TYPE ${f.name} ${f.type}\n`);
    om.push(`# HELP ${omName} ${help}\n# TYPE ${omName} ${f.type}\n`);
    for (const [labels, value] of f.samples) {
      const l = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      const line = `${f.name}${l} ${formatValue(value)}\n`;
      text.push(line);
      om.push(line);
    }
  }
  return { text: text.join(''), openMetrics: om.join('') };
}
