/**
 * Renders metric families straight from rows into the Prometheus text format and OpenMetrics,
 * for the per-workflow families whose size grows with the number of workflows (tens of
 * thousands of series at 1,000 clients × 20 workflows). prom-client keeps one object per series
 * and hashes every label set on each update, which at that size costs about a second and a few
 * hundred MB per render; these families are rendered once when their inputs change (the n8n poll
 * for the per-workflow ones, a changed fingerprint of their tables for the per-client ones) and
 * kept as gzip members that every scrape appends as they are.
 */

import { once } from 'node:events';
import { promisify } from 'node:util';
import { createGzip, gunzipSync, gzip, gzipSync, type Gzip } from 'node:zlib';

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

function header(f: Omit<Family, 'samples'>): { textHeader: string; openMetricsHeader: string } {
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(f.name)) throw new Error(`invalid metric name ${f.name}`);
  if (f.type === 'counter' && !f.name.endsWith('_total')) throw new Error(`counter ${f.name} must end in _total`);
  const help = escapeHelp(f.help);
  const omName = f.type === 'counter' ? f.name.slice(0, -'_total'.length) : f.name;
  return {
    textHeader: `# HELP ${f.name} ${help}\n# TYPE ${f.name} ${f.type}\n`,
    openMetricsHeader: `# HELP ${omName} ${help}\n# TYPE ${omName} ${f.type}\n`,
  };
}

/** A sample line up to its value: `name{labels} `. */
function linePrefix(name: string, labels: Labels): string {
  const l = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
  return `${name}${l} `;
}

function sampleLine(name: string, labels: Labels, value: number): string {
  return `${linePrefix(name, labels)}${formatValue(value)}\n`;
}

/**
 * A rendered family held as gzip members only, so a scrape writes it without rendering, encoding
 * or compressing it again, and the plain text (ten times the size) is not kept in memory. Each
 * piece is a complete gzip member: concatenated members form one valid gzip stream (RFC 1952
 * §2.2), which Prometheus' and Node's decoders read whole. A scrape without gzip inflates them.
 */
export interface EncodedFamily {
  textHeader: Buffer;
  openMetricsHeader: Buffer;
  samples: Buffer;
}

const gzipAsync = promisify(gzip);
/** Level 1: on this text about 8× smaller, at a fraction of the CPU of the default level. */
export const GZIP_LEVEL = 1;
export const gzipBytes = (b: Buffer | string) => gzipAsync(b, { level: GZIP_LEVEL });

/**
 * The gzip member of a family's header, kept: headers do not change between renderings (the
 * score's family is rendered at every scrape), and there are a few dozen of them.
 */
const headers = new Map<string, Buffer>();
function gzippedHeader(text: string): Buffer {
  let b = headers.get(text);
  if (!b) {
    if (headers.size >= 256) headers.clear();
    headers.set(text, (b = gzipSync(text, { level: GZIP_LEVEL })));
  }
  return b;
}

/**
 * Renders families straight into gzip members, `chunkSamples` sample lines at a time: the text of
 * a whole family never exists at once (at 20,000 workflows it would be megabytes of transient
 * strings), and the event loop is given back between chunks so that scrapes are not held up.
 */
export async function encodeFamilies(families: Iterable<Family>, chunkSamples = 2000): Promise<EncodedFamily[]> {
  const out: EncodedFamily[] = [];
  for (const f of families) {
    const h = header(f);
    // The stream (and its round trip to the thread pool) only for a family longer than a chunk;
    // a short one (the score, at every scrape) is compressed in one call.
    let z: Gzip | null = null;
    const parts: Buffer[] = [];
    let done: Promise<void> = Promise.resolve();
    let chunk = '';
    let n = 0;
    for (const [labels, value] of f.samples) {
      chunk += sampleLine(f.name, labels, value);
      if (++n % chunkSamples === 0) {
        if (!z) {
          const stream = (z = createGzip({ level: GZIP_LEVEL }));
          stream.on('data', (b: Buffer) => parts.push(b));
          done = new Promise<void>((resolve, reject) => {
            stream.on('end', resolve);
            stream.on('error', reject);
          });
        }
        if (!z.write(chunk)) await once(z, 'drain');
        chunk = '';
        await new Promise((r) => setImmediate(r));
      }
    }
    if (z) {
      z.end(chunk);
      await done;
    } else {
      parts.push(gzipSync(chunk, { level: GZIP_LEVEL }));
    }
    const [textHeader, openMetricsHeader] = [gzippedHeader(h.textHeader), gzippedHeader(h.openMetricsHeader)];
    out.push({ textHeader, openMetricsHeader, samples: parts.length === 1 ? parts[0]! : Buffer.concat(parts) });
  }
  return out;
}

/**
 * The same sample lines rendered by PostgreSQL, for per-client families that are read again all
 * day (what activity moves: events, last activity, churn risk, at each webhook batch): the query
 * returns a family's lines as one text value, so a re-read allocates one string instead of a row
 * object, label arrays and a line per series. Each expression renders exactly what sampleLine and
 * formatValue render; test/exporters/exposition-sql.test.ts holds the two byte for byte equal.
 */
const sqlLabelValue = (expr: string) => `replace(replace(replace(${expr}, '\\', '\\\\'), E'\\n', '\\n'), '"', '\\"')`;

/**
 * A timestamptz as formatValue writes epochSeconds of the Date the driver parses: milliseconds
 * truncated (the driver drops the microseconds), in seconds, without trailing zeros.
 */
export const sqlEpochSeconds = (expr: string) => `trim_scale(floor(extract(epoch FROM ${expr}) * 1000) / 1000)::text`;

/** A sample line (`name{labels} value\n`) as a SQL expression; labels hold SQL text expressions. */
export function sqlSampleLine(name: string, labels: Labels, value: string): string {
  const l = labels.length
    ? `'{' || ${labels.map(([k, v], i) => `'${i ? ',' : ''}${k}="' || ${sqlLabelValue(v)} || '"'`).join(' || ')} || '}'`
    : `''`;
  return `'${name}' || ${l} || ' ' || ${value} || E'\\n'`;
}

/** A family whose sample lines were rendered already (by sqlSampleLine), as one gzip member. */
export async function encodeRendered(f: Omit<Family, 'samples'>, lines: string): Promise<EncodedFamily> {
  const h = header(f);
  return {
    textHeader: gzippedHeader(h.textHeader),
    openMetricsHeader: gzippedHeader(h.openMetricsHeader),
    samples: await gzipBytes(lines),
  };
}

/**
 * A family whose series are fixed and whose values change at every scrape (the activity score,
 * which moves with the clock): each line up to its value is rendered once, so a scrape only
 * formats the values and compresses one string, leaving little for the garbage collector (a
 * scrape's garbage that lives into the next one is what brings on the slow full collections).
 */
export class PreparedFamily {
  private readonly prefixes: string[];
  private readonly headers: { textHeader: Buffer; openMetricsHeader: Buffer };

  constructor(meta: Omit<Family, 'samples'>, labels: Iterable<Labels>) {
    const h = header(meta);
    this.headers = { textHeader: gzippedHeader(h.textHeader), openMetricsHeader: gzippedHeader(h.openMetricsHeader) };
    this.prefixes = Array.from(labels, (l) => linePrefix(meta.name, l));
  }

  /** The family with `value(i)` as the value of the i-th series. */
  encode(value: (i: number) => number): EncodedFamily {
    let text = '';
    for (let i = 0; i < this.prefixes.length; i++) text += `${this.prefixes[i]}${formatValue(value(i))}\n`;
    return { ...this.headers, samples: gzipSync(text, { level: GZIP_LEVEL }) };
  }
}

/** The gzip members of encoded families in one format. */
export function encodedParts(families: readonly EncodedFamily[], openMetrics: boolean): Buffer[] {
  return families.flatMap((f) => [openMetrics ? f.openMetricsHeader : f.textHeader, f.samples]);
}

/** The plain text of encoded families (a scrape that did not ask for gzip). */
export function decodedText(families: readonly EncodedFamily[], openMetrics: boolean): string {
  return encodedParts(families, openMetrics)
    .map((b) => gunzipSync(b).toString())
    .join('');
}
