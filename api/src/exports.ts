import type { Response } from 'express';
import { HttpError } from './errors';

/**
 * Metric exports: a fixed catalogue of named queries (callers never send PromQL), read from
 * Prometheus's query_range in windows and streamed out as CSV or JSON as each window arrives.
 * `$step` in a query becomes the export's step, so increases cover one step each.
 */
export interface ExportDefinition {
  description: string;
  query: string;
  /** Label columns, in order, besides timestamp and value. */
  labels: string[];
  unit: string;
}

export const EXPORT_CATALOGUE: Record<string, ExportDefinition> = {
  client_runs: {
    description: 'Workflow executions per client in each step.',
    query: 'sum by (client) (increase(ct_workflow_executions_total[$step]))',
    labels: ['client'],
    unit: 'executions',
  },
  client_failures: {
    description: 'Failed or crashed workflow executions per client in each step.',
    query: 'sum by (client) (increase(ct_workflow_executions_total{status=~"error|crashed"}[$step]))',
    labels: ['client'],
    unit: 'executions',
  },
  client_hours_saved: {
    description: 'Hours of work saved per client in each step.',
    query: 'sum by (client) (increase(ct_client_time_saved_seconds_total[$step])) / 3600',
    labels: ['client'],
    unit: 'hours',
  },
  client_roi_value: {
    description: 'Value of the hours saved per client and currency in each step.',
    query: 'sum by (client, currency) (increase(ct_client_roi_value_total[$step]))',
    labels: ['client', 'currency'],
    unit: 'currency units',
  },
  mrr: {
    description: 'Monthly recurring revenue by currency.',
    query: 'sum by (currency) (ct_mrr)',
    labels: ['currency'],
    unit: 'currency units',
  },
  client_mrr: {
    description: 'Monthly recurring revenue per client and currency.',
    query: 'sum by (client, currency) (ct_client_mrr)',
    labels: ['client', 'currency'],
    unit: 'currency units',
  },
};

/** Prometheus refuses more than 11,000 points per series; windows stay well under it. */
const POINTS_PER_WINDOW = 5_000;
export const MAX_EXPORT_POINTS = 200_000;

interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}

function promDuration(seconds: number): string {
  return `${Math.max(1, Math.round(seconds))}s`;
}

async function queryRange(
  prometheusUrl: string,
  query: string,
  start: number,
  end: number,
  step: number,
  signal: AbortSignal,
): Promise<Series[]> {
  const url = new URL('/api/v1/query_range', prometheusUrl);
  const body = new URLSearchParams({ query, start: String(start), end: String(end), step: String(step) });
  let res: globalThis.Response;
  try {
    res = await fetch(url, { method: 'POST', body, signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) });
  } catch (err) {
    throw new HttpError(502, 'upstream_failed', `Prometheus is unreachable: ${(err as Error).message}`);
  }
  const json = (await res.json().catch(() => ({}))) as { status?: string; error?: string; data?: { result?: Series[] } };
  if (res.status !== 200 || json.status !== 'success') {
    throw new HttpError(502, 'upstream_failed', `Prometheus answered ${res.status}: ${json.error ?? 'no error text'}`);
  }
  return json.data?.result ?? [];
}

/** What a spreadsheet reads as the start of a formula (OWASP, CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;
/** A number as Prometheus writes one (NaN and ±Inf are not: they are written as text). */
const PLAIN_NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * A text cell: one starting with = + - @ tab or carriage return gets a leading ' so that a
 * spreadsheet shows it as text instead of running it, and is quoted, as is one with a quote,
 * comma or line break. Always, even for text that looks like a negative number: label values
 * are text.
 */
export function csvText(v: string): string {
  const cell = FORMULA_START.test(v) ? `'${v}` : v;
  return cell !== v || /[",\n\r]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

/** A number cell: left as it is when it is a plain number (negative ones included), else text. */
export function csvNumber(v: string): string {
  return PLAIN_NUMBER.test(v) ? v : csvText(v);
}

/**
 * Streams one export. The first window is fetched before anything is written, so an unreachable
 * Prometheus still gets a clean 502; later failures end the stream early (the CSV/JSON is then
 * visibly truncated: no closing bracket, an error line).
 */
export async function streamExport(
  res: Response,
  opts: { prometheusUrl: string; name: string; from: Date; to: Date; stepSeconds: number; format: 'csv' | 'json' },
): Promise<number> {
  const def = EXPORT_CATALOGUE[opts.name]!;
  const query = def.query.replaceAll('$step', promDuration(opts.stepSeconds));
  const start = Math.floor(opts.from.getTime() / 1000);
  const end = Math.floor(opts.to.getTime() / 1000);
  const windowSeconds = opts.stepSeconds * POINTS_PER_WINDOW;
  const controller = new AbortController();
  res.on('close', () => controller.abort());
  let rows = 0;
  let first = true;
  const write = (chunk: string) => (res.writableEnded || res.destroyed ? false : res.write(chunk));
  for (let ws = start; ws <= end; ws += windowSeconds + opts.stepSeconds) {
    const we = Math.min(end, ws + windowSeconds);
    const series = await queryRange(opts.prometheusUrl, query, ws, we, opts.stepSeconds, controller.signal).catch((err) => {
      if (!res.headersSent) throw err;
      write(opts.format === 'csv' ? `# export truncated: ${(err as Error).message}\n` : '');
      res.end();
      return null;
    });
    if (series === null) return rows;
    if (!res.headersSent) {
      const ext = opts.format;
      res.status(200);
      res.set('Content-Type', ext === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8');
      res.set('Content-Disposition', `attachment; filename="${opts.name}.${ext}"`);
      write(
        ext === 'csv'
          ? `timestamp,${def.labels.join(',')},value\n`
          : `{"export":${JSON.stringify(opts.name)},"unit":${JSON.stringify(def.unit)},"rows":[`,
      );
    }
    const points: { t: number; labels: string[]; v: string }[] = [];
    for (const s of series) for (const [t, v] of s.values) points.push({ t, labels: def.labels.map((l) => s.metric[l] ?? ''), v });
    points.sort((a, b) => a.t - b.t || a.labels.join().localeCompare(b.labels.join()));
    let chunk = '';
    for (const p of points) {
      const ts = new Date(p.t * 1000).toISOString();
      if (opts.format === 'csv') chunk += `${ts},${p.labels.map(csvText).join(',')},${csvNumber(p.v)}\n`;
      else {
        const obj: Record<string, string | number> = { timestamp: ts };
        def.labels.forEach((l, i) => (obj[l] = p.labels[i]!));
        obj.value = Number(p.v);
        chunk += `${first ? '' : ','}${JSON.stringify(obj)}`;
        first = false;
      }
      rows++;
    }
    if (chunk && !write(chunk)) {
      await new Promise((r) => {
        res.once('drain', r);
        res.once('close', r);
      });
    }
    if (controller.signal.aborted) return rows;
  }
  if (opts.format === 'json') write(`],"count":${rows}}`);
  res.end();
  return rows;
}
