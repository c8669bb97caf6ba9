import { Counter, Gauge, type Registry } from 'prom-client';
import { N8nError, errorMessage, type Logger, type Pool } from '@ct/lib';
import { clear, epochSeconds, setCounter, setGauge, setOrClear, type Collector } from '../collector';
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
  private inFlight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;

  constructor(
    private readonly pool: Pool,
    private readonly n8n: ExecutionSource,
    private readonly opts: { instance: string; intervalSeconds: number; timeoutSeconds: number; logger?: Logger },
  ) {}

  /** One poll; concurrent callers share the one in flight. */
  pollOnce(): Promise<void> {
    this.inFlight ??= this.poll().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async poll(): Promise<void> {
    const log = this.opts.logger;
    try {
      const r = await ingestExecutions(this.pool, this.n8n, this.opts.instance);
      this.snapshot = {
        ...this.snapshot,
        ok: true,
        at: Date.now(),
        error: null,
        workflows: r.workflows,
        running: r.running,
        ...(r.ingested ? { lastIngestAt: Date.now(), ingestError: null } : {}),
      };
      if (r.counted > 0) log?.debug({ counted: r.counted, watermark: r.watermark }, 'n8n executions ingested');
      return;
    } catch (err) {
      if (err instanceof N8nError) {
        this.snapshot = { ...this.snapshot, ok: false, at: Date.now(), error: errorMessage(err) };
        log?.warn({ err: errorMessage(err) }, 'n8n poll failed');
        return;
      }
      // The database (or the data) failed: keep n8n's live state fresh without it.
      this.snapshot = { ...this.snapshot, ingestError: errorMessage(err) };
      log?.warn({ err: errorMessage(err) }, 'n8n execution ingestion failed');
    }
    try {
      const state = await readN8nState(this.n8n);
      this.snapshot = { ...this.snapshot, ...state, ok: true, at: Date.now(), error: null };
    } catch (err) {
      this.snapshot = { ...this.snapshot, ok: false, at: Date.now(), error: errorMessage(err) };
    }
  }

  /** True when the last poll reached n8n and is recent enough to be trusted. */
  fresh(now = Date.now()): boolean {
    const maxAge = (3 * this.opts.intervalSeconds + this.opts.timeoutSeconds) * 1000;
    return this.snapshot.ok && this.snapshot.at !== null && now - this.snapshot.at <= maxAge;
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

interface CountRow {
  workflow: string;
  status: string;
  executions: string;
  last_stopped_at: Date | null;
}
interface AutomationRow {
  workflow: string;
  client: string;
  name: string;
}

export class N8nCollector implements Collector {
  readonly name = 'n8n';
  private readonly up: Gauge;
  private readonly lastPoll: Gauge;
  private readonly lastIngest: Gauge;
  private readonly info: Gauge<'client' | 'workflow' | 'name'>;
  private readonly active: Gauge<'client' | 'workflow'>;
  private readonly executions: Counter<'client' | 'workflow' | 'status'>;
  private readonly running: Gauge<'client' | 'workflow'>;
  private readonly oldest: Gauge<'client' | 'workflow'>;
  private readonly lastSuccess: Gauge<'client' | 'workflow'>;
  private readonly lastFailure: Gauge<'client' | 'workflow'>;

  constructor(
    registry: Registry,
    private readonly pool: Pool,
    private readonly poller: N8nPoller,
    intervalSeconds: number,
  ) {
    const registers = [registry];
    const cw = ['client', 'workflow'] as const;
    const polled = `refreshed every ${intervalSeconds}s by the exporter's n8n poll`;
    this.up = new Gauge({ name: 'ct_n8n_up', help: `1 when the last poll of n8n's API succeeded and is recent (${polled}).`, registers });
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
    this.info = new Gauge({
      name: 'ct_workflow_info',
      help: 'Always 1: the display name of each workflow (the automation name when mapped, else the n8n name), for joins on workflow.',
      labelNames: ['client', 'workflow', 'name'],
      registers,
    });
    this.active = new Gauge({
      name: 'ct_workflow_active',
      help: `1 when the workflow is active in n8n, else 0 (${polled}).`,
      labelNames: cw,
      registers,
    });
    this.executions = new Counter({
      name: 'ct_workflow_executions_total',
      help: 'Finished executions by final status (success, error, canceled, crashed), counted once each in the platform database; survives exporter and n8n restarts.',
      labelNames: ['client', 'workflow', 'status'],
      registers,
    });
    this.running = new Gauge({
      name: 'ct_workflow_running_executions',
      help: `Executions running now (${polled}).`,
      labelNames: cw,
      registers,
    });
    this.oldest = new Gauge({
      name: 'ct_workflow_oldest_running_execution_age_seconds',
      help: `Age of the oldest running execution, 0 when none runs (${polled}).`,
      labelNames: cw,
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'ct_workflow_last_success_timestamp_seconds',
      help: 'When the last successful execution finished.',
      labelNames: cw,
      registers,
    });
    this.lastFailure = new Gauge({
      name: 'ct_workflow_last_failure_timestamp_seconds',
      help: 'When the last failed (error or crashed) execution finished.',
      labelNames: cw,
      registers,
    });
    clear(this.lastPoll);
    clear(this.lastIngest);
  }

  async read(): Promise<() => string | void> {
    const [counts, automations] = await Promise.all([
      this.pool.query<CountRow>(
        `SELECT n8n_workflow_id AS workflow, status, sum(executions)::text AS executions, max(last_stopped_at) AS last_stopped_at
           FROM workflow_execution_counts GROUP BY 1, 2`,
      ),
      this.pool.query<AutomationRow>(
        'SELECT a.n8n_workflow_id AS workflow, c.slug AS client, a.name FROM automations a JOIN clients c ON c.id = a.client_id',
      ),
    ]);
    const snapshot = this.poller.snapshot;
    const live = this.poller.fresh();
    return () => {
      const clientOf = new Map<string, string>();
      const names = new Map<string, string>();
      for (const a of automations.rows) {
        clientOf.set(a.workflow, a.client);
        names.set(a.workflow, a.name);
      }
      if (live) for (const w of snapshot.workflows) if (!names.has(w.id)) names.set(w.id, w.name);
      const cw = (workflow: string) => ({ client: clientOf.get(workflow) ?? UNASSIGNED, workflow });

      // Every known workflow gets all four statuses, so increase() sees the first failure.
      const totals = new Map<string, number>();
      for (const w of new Set([...clientOf.keys(), ...counts.rows.map((r) => r.workflow)])) {
        for (const s of FINAL_STATUSES) totals.set(`${w}\u0000${s}`, 0);
      }
      const lastSuccess = new Map<string, number>();
      const lastFailure = new Map<string, number>();
      for (const r of counts.rows) {
        totals.set(`${r.workflow}\u0000${r.status}`, Number(r.executions));
        const t = epochSeconds(r.last_stopped_at);
        if (t === null) continue;
        if (r.status === 'success') lastSuccess.set(r.workflow, t);
        if (r.status === 'error' || r.status === 'crashed') lastFailure.set(r.workflow, Math.max(t, lastFailure.get(r.workflow) ?? 0));
      }
      setCounter(
        this.executions,
        [...totals].map(([k, v]) => {
          const [workflow, status] = k.split('\u0000') as [string, string];
          return [{ ...cw(workflow), status }, v];
        }),
      );
      setGauge(
        this.lastSuccess,
        [...lastSuccess].map(([w, t]) => [cw(w), t]),
      );
      setGauge(
        this.lastFailure,
        [...lastFailure].map(([w, t]) => [cw(w), t]),
      );
      setGauge(
        this.info,
        [...names].map(([w, name]) => [{ ...cw(w), name }, 1]),
      );
      this.setLive(live, snapshot, cw);
      if (!live) return `n8n unreachable: ${snapshot.error ?? 'no recent poll'}`;
    };
  }

  private setLive(live: boolean, snapshot: N8nSnapshot, cw: (w: string) => { client: string; workflow: string }): void {
    this.up.set(live ? 1 : 0);
    if (snapshot.ok && snapshot.at !== null) this.lastPoll.set(snapshot.at / 1000);
    setOrClear(this.lastIngest, snapshot.lastIngestAt === null ? null : snapshot.lastIngestAt / 1000);
    if (!live) {
      // Stale live values would hide a stuck workflow: leave them out until n8n answers again.
      for (const g of [this.active, this.running, this.oldest]) g.reset();
      return;
    }
    const now = Date.now();
    const running = new Map<string, { count: number; oldest: number }>();
    for (const w of snapshot.workflows) running.set(w.id, { count: 0, oldest: 0 });
    for (const e of snapshot.running) {
      const r = running.get(e.workflowId) ?? { count: 0, oldest: 0 };
      const started = e.startedAt ? Date.parse(e.startedAt) : NaN;
      r.count += 1;
      if (Number.isFinite(started)) r.oldest = Math.max(r.oldest, (now - started) / 1000);
      running.set(e.workflowId, r);
    }
    setGauge(
      this.active,
      snapshot.workflows.map((w) => [cw(w.id), w.active ? 1 : 0]),
    );
    setGauge(
      this.running,
      [...running].map(([w, r]) => [cw(w), r.count]),
    );
    setGauge(
      this.oldest,
      [...running].map(([w, r]) => [cw(w), r.oldest]),
    );
  }

  reset(): void {
    // Without the database the workflows cannot be mapped to clients: only ct_n8n_up is served.
    for (const m of [this.info, this.active, this.executions, this.running, this.oldest, this.lastSuccess, this.lastFailure]) m.reset();
    this.up.set(this.poller.fresh() ? 1 : 0);
  }
}
