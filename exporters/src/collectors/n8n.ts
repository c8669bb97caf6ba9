import { Gauge, type Registry } from 'prom-client';
import { N8nError, errorMessage, type Logger, type Pool } from '@ct/lib';
import { clear, setOrClear, type Collector } from '../collector';
import { createHash } from 'node:crypto';
import { encodeFamilies, type EncodedFamily, type Family, type Labels } from '../exposition';
import { FINAL_STATUSES, ingestExecutions, readN8nState, type ExecutionSource, type N8nState } from '../ingest';

export const UNASSIGNED = 'unassigned';

export interface N8nSnapshot extends N8nState {
  /** n8n answered the last poll. */
  ok: boolean;
  /** When the last poll ended (ms since the epoch), successful or not. */
  at: number | null;
  error: string | null;
  lastIngestAt: number | null;
  ingestError: string | null;
}

/**
 * Polls n8n on an interval: ingests finished executions into Postgres and keeps the live state
 * (workflows, running executions) in memory for scrapes. Polling off the scrape path keeps a
 * scrape fast and independent of n8n's latency; the counters live in Postgres, so nothing is lost
 * between polls or across restarts.
 */
export class N8nPoller {
  snapshot: N8nSnapshot = {
    ok: false,
    at: null,
    error: 'not polled yet',
    workflows: [],
    running: [],
    lastIngestAt: null,
    ingestError: null,
  };
  /** The per-workflow families, rendered after each poll (see exposition.ts). */
  workflowBlock: WorkflowBlock = { families: [], error: 'not polled yet' };
  private counted: CountedFamilies | null = null;
  private active: ActiveFamily | null = null;
  private inFlight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;

  constructor(
    private readonly pool: Pool,
    private readonly n8n: ExecutionSource,
    private readonly opts: { instance: string; n8nUrl?: string; intervalSeconds: number; timeoutSeconds: number; logger?: Logger },
  ) {}

  /** One poll; concurrent callers share the one in flight. */
  pollOnce(): Promise<void> {
    this.inFlight ??= this.poll().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  /**
   * The poll's outcome (n8n's state, whether ingestion worked) and the families rendered from it are
   * published together, in one turn: a scrape never sees a poll's failure next to the families of
   * the poll before it (the database gone, say, while the counters it can no longer read are served).
   */
  private async poll(): Promise<void> {
    const snapshot = await this.pollN8n();
    try {
      const block = await renderWorkflowFamilies(
        this.pool,
        snapshot,
        this.fresh(Date.now(), snapshot),
        this.opts.intervalSeconds,
        this.counted,
        Date.now(),
        this.active,
      );
      this.counted = block.counted;
      this.active = block.active;
      this.workflowBlock = { families: block.families, error: null };
    } catch (err) {
      // Without the database the workflows cannot be mapped to clients: leave them out.
      this.workflowBlock = { families: [], error: errorMessage(err) };
      this.counted = null;
      this.active = null;
    }
    // In the same turn as the families. n8n's list is in them now, and the next poll lists it
    // again: 20,000 workflows kept between polls would be megabytes of heap for nothing.
    this.snapshot = { ...snapshot, workflows: [] };
  }

  /** Asks n8n (ingesting finished executions on the way) and returns the new snapshot, unpublished. */
  private async pollN8n(): Promise<N8nSnapshot> {
    const log = this.opts.logger;
    let snapshot = this.snapshot;
    try {
      const r = await ingestExecutions(this.pool, this.n8n, this.opts.instance, { n8nUrl: this.opts.n8nUrl });
      if (r.counted > 0) log?.debug({ counted: r.counted, watermark: r.watermark }, 'n8n executions ingested');
      return {
        ...snapshot,
        ok: true,
        at: Date.now(),
        error: null,
        workflows: r.workflows,
        running: r.running,
        // Not ingesting is no failure: another exporter holds the cursor.
        ingestError: null,
        ...(r.ingested ? { lastIngestAt: Date.now() } : {}),
      };
    } catch (err) {
      if (err instanceof N8nError) {
        log?.warn({ err: errorMessage(err) }, 'n8n poll failed');
        return { ...snapshot, ok: false, at: Date.now(), error: errorMessage(err) };
      }
      // The database (or the data) failed: keep n8n's live state fresh without it.
      snapshot = { ...snapshot, ingestError: errorMessage(err) };
      log?.warn({ err: errorMessage(err) }, 'n8n execution ingestion failed');
    }
    try {
      const state = await readN8nState(this.n8n);
      return { ...snapshot, ...state, ok: true, at: Date.now(), error: null };
    } catch (err) {
      return { ...snapshot, ok: false, at: Date.now(), error: errorMessage(err) };
    }
  }

  /** True when the last poll reached n8n and is recent enough to be trusted. */
  fresh(now = Date.now(), snapshot: N8nSnapshot = this.snapshot): boolean {
    const maxAge = (3 * this.opts.intervalSeconds + this.opts.timeoutSeconds) * 1000;
    return snapshot.ok && snapshot.at !== null && now - snapshot.at <= maxAge;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const loop = async () => {
      await this.pollOnce();
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.opts.intervalSeconds * 1000);
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
  }
}

export interface WorkflowBlock {
  families: EncodedFamily[];
  /** Why the block is empty, when it is. */
  error: string | null;
}

interface WorkflowCountRow {
  workflow: string;
  /** The client's slug and the automation's name; null for a workflow no automation maps. */
  client: string | null;
  name: string | null;
  /** Executions by final status; -1 for a status never seen (canceled, crashed). */
  success: number;
  error: number;
  canceled: number;
  crashed: number;
  /** Seconds since the epoch, to the millisecond (as a Date holds it), or null. */
  last_success: number | null;
  last_failure: number | null;
}

/** The families that change only when executions are counted or the client mapping changes. */
export interface CountedFamilies {
  /** Fingerprint of the rows they were rendered from. */
  key: string;
  families: EncodedFamily[];
  clientOf: Map<string, string>;
  names: Map<string, string>;
}

/** ct_workflow_active as last rendered, with a digest of what it was rendered from. */
export interface ActiveFamily {
  key: string;
  families: EncodedFamily[];
}

/**
 * The per-workflow families, from the counters in Postgres and n8n's live state (left out when
 * n8n did not answer recently). Rendered and compressed once per poll, off the scrape path, giving
 * the event loop back as it goes. The counted families are rendered again only when a cheap
 * fingerprint of their rows changed (`previous` is the last rendering); the live ones every poll.
 */
export async function renderWorkflowFamilies(
  pool: Pool,
  snapshot: N8nState,
  live: boolean,
  intervalSeconds: number,
  previous: CountedFamilies | null = null,
  now = Date.now(),
  previousActive: ActiveFamily | null = null,
): Promise<WorkflowBlock & { counted: CountedFamilies; active: ActiveFamily | null }> {
  const polled = `refreshed every ${intervalSeconds}s by the exporter's n8n poll`;
  const { rows } = await pool.query<{ key: string }>(
    `SELECT (SELECT count(*) || ':' || coalesce(sum(executions), 0) || ':' || coalesce(max(last_stopped_at)::text, '')
               FROM workflow_execution_counts)
            || '|' ||
            (SELECT count(*) || ':' || md5(coalesce(string_agg(a.n8n_workflow_id || '/' || c.slug || '/' || a.name, E'\n' ORDER BY a.n8n_workflow_id), ''))
               FROM automations a JOIN clients c ON c.id = a.client_id) AS key`,
  );
  const key = rows[0]!.key;
  const counted = previous?.key === key ? previous : await renderCounted(pool, key, polled);
  const cw = (workflow: string): Labels => [
    ['client', counted.clientOf.get(workflow) ?? UNASSIGNED],
    ['workflow', workflow],
  ];
  const families: Family[] = [];
  let active: ActiveFamily | null = null;
  if (live) {
    // Live state only when n8n answered recently: stale values would hide a stuck workflow.
    // ct_workflow_active (one line per workflow) is rendered again only when n8n's list or the
    // mapping changed; the running executions (a few lines) at every poll.
    const hash = createHash('sha1').update(counted.key);
    for (const w of snapshot.workflows) hash.update(`\n${w.id}\0${w.name}\0${w.active ? 1 : 0}`);
    const activeKey = hash.digest('hex');
    active =
      previousActive?.key === activeKey
        ? previousActive
        : {
            key: activeKey,
            families: await encodeFamilies([
              {
                name: 'ct_workflow_active',
                type: 'gauge',
                help: `1 when the workflow is active in n8n, else 0; name is the automation's name when mapped, else n8n's (${polled}).`,
                samples: (function* () {
                  for (const w of snapshot.workflows) {
                    yield [[...cw(w.id), ['name', counted.names.get(w.id) ?? w.name]], w.active ? 1 : 0] as const;
                  }
                })(),
              },
            ]),
          };
    const running = new Map<string, { count: number; oldest: number }>();
    for (const e of snapshot.running) {
      const r = running.get(e.workflowId) ?? { count: 0, oldest: 0 };
      const started = e.startedAt ? Date.parse(e.startedAt) : NaN;
      r.count += 1;
      if (Number.isFinite(started)) r.oldest = Math.max(r.oldest, (now - started) / 1000);
      running.set(e.workflowId, r);
    }
    families.push(
      {
        name: 'ct_workflow_running_executions',
        type: 'gauge',
        help: `Executions running now, for the workflows that have any (${polled}).`,
        samples: mapEntries(running, (w, r) => [cw(w), r.count]),
      },
      {
        name: 'ct_workflow_oldest_running_execution_age_seconds',
        type: 'gauge',
        help: `Age of the oldest running execution, for the workflows that have any, as of the last poll (${polled}).`,
        samples: mapEntries(running, (w, r) => [cw(w), r.oldest]),
      },
    );
  }
  const liveFamilies = await encodeFamilies(families);
  return { families: [...counted.families, ...(active?.families ?? []), ...liveFamilies], error: null, counted, active };
}

async function renderCounted(pool: Pool, key: string, polled: string): Promise<CountedFamilies> {
  // One row per workflow, mapped or not, its counts already pivoted by status: a row object and
  // a workflow id string per workflow rather than per status, and numbers parsed as numbers.
  const { rows } = await pool.query<WorkflowCountRow>(
    `SELECT coalesce(a.workflow, w.workflow) AS workflow, a.client, a.name,
            coalesce(w.success, 0) AS success, coalesce(w.error, 0) AS error,
            coalesce(w.canceled, -1) AS canceled, coalesce(w.crashed, -1) AS crashed,
            w.last_success, w.last_failure
       FROM (SELECT a.n8n_workflow_id AS workflow, c.slug AS client, a.name
               FROM automations a JOIN clients c ON c.id = a.client_id) a
       FULL JOIN (SELECT n8n_workflow_id AS workflow,
                         sum(executions) FILTER (WHERE status = 'success')::float8 AS success,
                         sum(executions) FILTER (WHERE status = 'error')::float8 AS error,
                         sum(executions) FILTER (WHERE status = 'canceled')::float8 AS canceled,
                         sum(executions) FILTER (WHERE status = 'crashed')::float8 AS crashed,
                         (floor(extract(epoch FROM max(last_stopped_at) FILTER (WHERE status = 'success')) * 1000) / 1000)::float8 AS last_success,
                         (floor(extract(epoch FROM max(last_stopped_at) FILTER (WHERE status IN ('error', 'crashed'))) * 1000) / 1000)::float8 AS last_failure
                    FROM workflow_execution_counts GROUP BY 1) w ON w.workflow = a.workflow`,
  );
  // Kept between polls: one string per distinct slug and name, not one per workflow (each row
  // brings its own copy; 20 workflows a client share its slug, and names repeat).
  const clientOf = new Map<string, string>();
  const names = new Map<string, string>();
  const interned = new Map<string, string>();
  const intern = (v: string) => {
    const kept = interned.get(v);
    if (kept !== undefined) return kept;
    interned.set(v, v);
    return v;
  };
  // Executions per workflow, one slot per final status (FINAL_STATUSES' order). success and error
  // are 0 for every known workflow, so increase() sees the first failure; canceled and crashed
  // (rare) appear when they first happen (-1 marks "not yet"), which keeps 20,000 workflows at
  // ~2 series each.
  const totals = new Map<string, number[]>();
  const lastSuccess = new Map<string, number>();
  const lastFailure = new Map<string, number>();
  for (const r of rows) {
    if (r.client !== null) {
      clientOf.set(r.workflow, intern(r.client));
      names.set(r.workflow, intern(r.name!));
    }
    totals.set(r.workflow, [r.success, r.error, r.canceled, r.crashed]);
    if (r.last_success !== null) lastSuccess.set(r.workflow, r.last_success);
    if (r.last_failure !== null) lastFailure.set(r.workflow, r.last_failure);
  }
  interned.clear();
  rows.length = 0; // rows are no longer needed while the families render
  const cw = (workflow: string): Labels => [
    ['client', clientOf.get(workflow) ?? UNASSIGNED],
    ['workflow', workflow],
  ];

  const counted: Family[] = [
    {
      name: 'ct_workflow_executions_total',
      type: 'counter',
      help: `Finished executions by final status (success, error, canceled, crashed), counted once each in the platform database; survives exporter and n8n restarts (${polled}).`,
      samples: (function* () {
        for (const [w, byStatus] of totals) {
          const labels = cw(w);
          for (let i = 0; i < FINAL_STATUSES.length; i++) {
            if (byStatus[i]! >= 0) yield [[...labels, ['status', FINAL_STATUSES[i]!]], byStatus[i]!] as const;
          }
        }
      })(),
    },
    {
      name: 'ct_workflow_last_success_timestamp_seconds',
      type: 'gauge',
      help: `When the last successful execution finished (${polled}).`,
      samples: mapEntries(lastSuccess, (w, t) => [cw(w), t]),
    },
    {
      name: 'ct_workflow_last_failure_timestamp_seconds',
      type: 'gauge',
      help: `When the last failed (error or crashed) execution finished (${polled}).`,
      samples: mapEntries(lastFailure, (w, t) => [cw(w), t]),
    },
  ];
  const families = await encodeFamilies(counted);
  return { key, families, clientOf, names };
}

function* mapEntries<K, V>(map: Map<K, V>, f: (k: K, v: V) => readonly [Labels, number]): Generator<readonly [Labels, number]> {
  for (const [k, v] of map) yield f(k, v);
}

/** n8n's reachability at scrape time; the per-workflow families come from the poll (above). */
export class N8nCollector implements Collector {
  readonly name = 'n8n';
  private readonly up: Gauge;
  private readonly lastPoll: Gauge;
  private readonly lastIngest: Gauge;

  constructor(
    registry: Registry,
    private readonly poller: N8nPoller,
    intervalSeconds: number,
  ) {
    const registers = [registry];
    this.up = new Gauge({
      name: 'ct_n8n_up',
      help: `1 when the last poll of n8n's API succeeded and is recent (polled every ${intervalSeconds}s).`,
      registers,
    });
    this.lastPoll = new Gauge({
      name: 'ct_n8n_last_poll_success_timestamp_seconds',
      help: "When the exporter last reached n8n's API.",
      registers,
    });
    this.lastIngest = new Gauge({
      name: 'ct_n8n_last_ingestion_timestamp_seconds',
      help: 'When finished n8n executions were last ingested into the platform database.',
      registers,
    });
    clear(this.lastPoll);
    clear(this.lastIngest);
  }

  async read(): Promise<() => string | void> {
    const snapshot = this.poller.snapshot;
    const live = this.poller.fresh();
    const block = this.poller.workflowBlock;
    return () => {
      this.up.set(live ? 1 : 0);
      if (snapshot.ok && snapshot.at !== null) this.lastPoll.set(snapshot.at / 1000);
      setOrClear(this.lastIngest, snapshot.lastIngestAt === null ? null : snapshot.lastIngestAt / 1000);
      if (!live) return `n8n unreachable: ${snapshot.error ?? 'no recent poll'}`;
      if (block.error) return `workflow metrics unavailable: ${block.error}`;
      // The execution counters would freeze while everything else looks healthy.
      if (snapshot.ingestError) return `n8n executions are not being ingested: ${snapshot.ingestError}`;
    };
  }

  reset(): void {
    this.up.set(this.poller.fresh() ? 1 : 0);
  }
}
