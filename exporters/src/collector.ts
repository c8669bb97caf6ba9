import { Gauge, type Counter, type Registry } from 'prom-client';
import { errorMessage, type Logger } from '@ct/lib';
import type { EncodedFamily } from './exposition';

/**
 * A collector reads one source and returns a function that writes what it read into its metrics.
 * Reading is asynchronous and may fail or time out; applying is synchronous, so the metrics of a
 * collector are either all from this scrape or all cleared, never a mix.
 */
export interface Collector {
  readonly name: string;
  /**
   * Reads the source; throws when it cannot. The returned function applies what was read; it
   * returns an error message when only part of the source could be read (the part that could is
   * still served, and the collector reports up 0).
   */
  read(): Promise<() => string | void>;
  /** Called instead of the apply function when reading failed: clears what would be stale. */
  reset(): void;
  /**
   * Families that grow with the number of clients, rendered directly into gzip members (see
   * exposition.ts) and set by the last apply, appended after the registry's metrics; emptied by
   * reset().
   */
  readonly families?: readonly EncodedFamily[];
}

export interface CollectorOutcome {
  name: string;
  ok: boolean;
  seconds: number;
  error?: string;
}

/** Runs collectors side by side; a failing or slow one reports up 0 and never fails the scrape. */
export class CollectorRunner {
  private readonly up: Gauge;
  private readonly duration: Gauge;

  constructor(
    registry: Registry,
    private readonly collectors: readonly Collector[],
    private readonly opts: { timeoutSeconds: number; logger?: Logger },
  ) {
    this.up = new Gauge({
      name: 'ct_exporter_collector_up',
      help: '1 when the collector read its source during this scrape, 0 when it failed or timed out (its metrics are then left out).',
      labelNames: ['collector'],
      registers: [registry],
    });
    this.duration = new Gauge({
      name: 'ct_exporter_collector_duration_seconds',
      help: 'Time the collector took to read its source during this scrape.',
      labelNames: ['collector'],
      registers: [registry],
    });
  }

  /** The directly rendered families of every collector, after the last run. */
  families(): EncodedFamily[] {
    return this.collectors.flatMap((c) => c.families ?? []);
  }

  async run(): Promise<CollectorOutcome[]> {
    const outcomes = await Promise.all(this.collectors.map((c) => this.runOne(c)));
    for (const o of outcomes) {
      this.up.set({ collector: o.name }, o.ok ? 1 : 0);
      this.duration.set({ collector: o.name }, o.seconds);
    }
    return outcomes;
  }

  private async runOne(collector: Collector): Promise<CollectorOutcome> {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${this.opts.timeoutSeconds}s`)),
        Math.round(this.opts.timeoutSeconds * 1000),
      );
    });
    try {
      const apply = await Promise.race([collector.read(), timeout]);
      const partial = apply();
      if (partial) return { name: collector.name, ok: false, seconds: seconds(), error: partial };
      return { name: collector.name, ok: true, seconds: seconds() };
    } catch (err) {
      collector.reset();
      const error = errorMessage(err);
      this.opts.logger?.warn({ collector: collector.name, err: error }, 'collector failed');
      return { name: collector.name, ok: false, seconds: seconds(), error };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Replaces every series of a gauge with `rows`. */
export function setGauge<L extends string>(gauge: Gauge<L>, rows: Iterable<[Partial<Record<L, string>>, number]>): void {
  gauge.reset();
  for (const [labels, value] of rows) gauge.set(labels, value);
}

/** Seconds since the epoch, for *_timestamp_seconds gauges. */
export function epochSeconds(d: Date | string | null | undefined): number | null {
  if (d === null || d === undefined) return null;
  const ms = (d instanceof Date ? d : new Date(d)).getTime();
  return Number.isFinite(ms) ? ms / 1000 : null;
}

/**
 * Removes every series, including the 0 that prom-client keeps for a metric without labels, so
 * an unknown value is absent rather than a misleading 0.
 */
export function clear(metric: Gauge | Counter): void {
  metric.reset();
  if ((metric as unknown as { labelNames: string[] }).labelNames.length === 0) metric.remove();
}

/** Sets a metric without labels, or leaves it absent when the value is unknown. */
export function setOrClear(gauge: Gauge, value: number | null | undefined): void {
  if (value === null || value === undefined) clear(gauge);
  else gauge.set(value);
}

/**
 * What a collector read from its tables and rendered, reused by the next scrapes while the
 * fingerprint of those tables is the same and the clock has not reached `until` (the first moment
 * a figure would change by time alone, e.g. an invoice falling due). The fingerprint is taken
 * before the tables are read, so a change committed in between makes the next scrape read again:
 * a scrape never serves what was not true at its start.
 */
export class FingerprintCache<T> {
  private entry: { key: string; until: number; value: T } | null = null;
  /** Reads (misses) since the start, for tests and the benchmark. */
  loads = 0;

  async get(key: string, nowMs: number, load: () => Promise<{ value: T; until: number }>): Promise<T> {
    const e = this.entry;
    if (e && e.key === key && nowMs < e.until) return e.value;
    this.entry = null;
    const { value, until } = await load();
    this.loads += 1;
    this.entry = { key, until, value };
    return value;
  }

  clear(): void {
    this.entry = null;
  }
}

/** What a part of a collector reads: the fingerprint of its tables, and how to read them. */
export type PartRead<T> = readonly [key: string, load: () => Promise<{ value: T; until: number }>];

/**
 * One FingerprintCache per part of a collector, each keyed by the fingerprints of the tables that
 * part reads only: a change to one table reads and renders again the parts it feeds, not the
 * others (activity events arrive all day long; invoices and subscriptions rarely change).
 */
export class FingerprintCaches<P extends Record<string, unknown>> {
  private readonly parts = new Map<keyof P, FingerprintCache<unknown>>();
  /** Reads that went back to at least one table, since the start (tests and the benchmark). */
  loads = 0;

  /** Reads (misses) of one part since the start. */
  partLoads(part: keyof P): number {
    return this.parts.get(part)?.loads ?? 0;
  }

  async get(nowMs: number, reads: { [K in keyof P]: PartRead<P[K]> }): Promise<P> {
    const names = Object.keys(reads) as (keyof P)[];
    let loaded = false;
    const values = await Promise.all(
      names.map((name) => {
        let cache = this.parts.get(name);
        if (!cache) this.parts.set(name, (cache = new FingerprintCache<unknown>()));
        const [key, load] = reads[name];
        return cache.get(key, nowMs, () => {
          loaded = true;
          return load();
        });
      }),
    );
    if (loaded) this.loads += 1;
    return Object.fromEntries(names.map((name, i) => [name, values[i]])) as P;
  }

  clear(): void {
    for (const cache of this.parts.values()) cache.clear();
  }
}

/** Milliseconds since the epoch of a timestamp column that may be NULL (then: never). */
export function untilMs(d: Date | string | null | undefined): number {
  const s = epochSeconds(d);
  return s === null ? Infinity : s * 1000;
}
