import { Counter, Gauge, type Registry } from 'prom-client';
import type { Pool } from '@ct/lib';
import { epochSeconds, setCounter, setGauge, type Collector } from '../collector';
import { CHURN_INACTIVITY_DAYS } from './billing';

/** Days of client_daily_stats the reliability part of the activity score looks at. */
export const SCORE_WINDOW_DAYS = 7;

/**
 * The activity score, 0–1: recency × (0.5 + 0.5 × reliability).
 * recency = 1 − (days since the last activity) / 14, clamped to 0–1 (0 without any activity);
 * reliability = 1 − failures / runs over the last 7 days of client_daily_stats (1 without runs).
 * A client active today whose runs all succeed scores 1; one silent for 14 days scores 0.
 */
export function activityScore(daysSinceActivity: number | null, runs: number, failures: number): number {
  if (daysSinceActivity === null) return 0;
  const recency = Math.min(1, Math.max(0, 1 - daysSinceActivity / CHURN_INACTIVITY_DAYS));
  const reliability = runs > 0 ? Math.min(1, Math.max(0, 1 - failures / runs)) : 1;
  return recency * (0.5 + 0.5 * reliability);
}

/**
 * Per-client activity from summary tables only: client_activity_counts (kept by a trigger on
 * activity_events), workflow_execution_counts / workflow_savings (kept by execution ingestion)
 * and client_daily_stats. A scrape never scans the events themselves.
 */
export class ActivityCollector implements Collector {
  readonly name = 'activity';
  private readonly lastActivity: Gauge<'client'>;
  private readonly events: Counter<'client' | 'kind'>;
  private readonly hoursSaved: Counter<'client'>;
  private readonly roi: Counter<'client' | 'currency'>;
  private readonly webhookFailures: Counter<'client'>;
  private readonly score: Gauge<'client'>;

  constructor(
    registry: Registry,
    private readonly pool: Pool,
  ) {
    const registers = [registry];
    this.lastActivity = new Gauge({
      name: 'ct_client_last_activity_timestamp_seconds',
      help: "When the client's last activity event occurred (or the API last recorded activity); absent when it never had any.",
      labelNames: ['client'],
      registers,
    });
    this.events = new Counter({
      name: 'ct_client_activity_events_total',
      help: 'Activity events received from the client workflows, by kind.',
      labelNames: ['client', 'kind'],
      registers,
    });
    this.hoursSaved = new Counter({
      name: 'ct_client_hours_saved_total',
      help: "Hours saved: successful executions × the automation's minutes saved per run / 60, valued when each execution was ingested.",
      labelNames: ['client'],
      registers,
    });
    this.roi = new Counter({
      name: 'ct_client_roi_value_total',
      help: "Value of the hours saved, in currency units: hours saved × the automation's hourly value.",
      labelNames: ['client', 'currency'],
      registers,
    });
    this.webhookFailures = new Counter({
      name: 'ct_client_webhook_failures_total',
      help: "Failed deliveries of the client's n8n webhooks: executions of Webhook-triggered workflows that ended in error or crashed.",
      labelNames: ['client'],
      registers,
    });
    this.score = new Gauge({
      name: 'ct_client_activity_score',
      help: `Activity score 0-1: recency × (0.5 + 0.5 × reliability); recency falls from 1 to 0 over ${CHURN_INACTIVITY_DAYS} days without activity, reliability is the success share of the last ${SCORE_WINDOW_DAYS} days of runs.`,
      labelNames: ['client'],
      registers,
    });
  }

  async read(): Promise<() => void> {
    const [clients, events, savings, failures, recent] = await Promise.all([
      this.pool.query<{ id: string; slug: string; last_at: Date | null; now: Date }>(
        `SELECT c.id, c.slug, greatest(c.last_activity_at, act.last_at) AS last_at, now() AS now
           FROM clients c
           LEFT JOIN (SELECT client_id, max(last_occurred_at) AS last_at FROM client_activity_counts GROUP BY 1) act ON act.client_id = c.id`,
      ),
      this.pool.query<{ client_id: string; kind: string; events: string }>(
        'SELECT client_id, kind, events::text FROM client_activity_counts',
      ),
      this.pool.query<{ client_id: string; currency: string; minutes: string; value_cents: string }>(
        `SELECT a.client_id, s.currency, sum(s.minutes_saved)::text AS minutes, sum(s.value_cents)::text AS value_cents
           FROM workflow_savings s JOIN automations a ON a.n8n_workflow_id = s.n8n_workflow_id GROUP BY 1, 2`,
      ),
      this.pool.query<{ client_id: string; n: string }>(
        `SELECT a.client_id, sum(w.webhook_executions)::text AS n
           FROM workflow_execution_counts w JOIN automations a ON a.n8n_workflow_id = w.n8n_workflow_id
          WHERE w.status IN ('error', 'crashed') GROUP BY 1`,
      ),
      this.pool.query<{ client_id: string; runs: string; failures: string }>(
        `SELECT client_id, sum(workflow_runs)::text AS runs, sum(failures)::text AS failures
           FROM client_daily_stats WHERE day > current_date - $1::int GROUP BY 1`,
        [SCORE_WINDOW_DAYS],
      ),
    ]);
    return () => {
      const slug = new Map(clients.rows.map((c) => [c.id, c.slug]));
      const minutes = new Map<string, number>();
      const roi: [{ client: string; currency: string }, number][] = [];
      for (const r of savings.rows) {
        const client = slug.get(r.client_id);
        if (!client) continue;
        minutes.set(client, (minutes.get(client) ?? 0) + Number(r.minutes));
        roi.push([{ client, currency: r.currency }, Number(r.value_cents) / 100]);
      }
      const webhook = new Map(failures.rows.map((r) => [slug.get(r.client_id), Number(r.n)]));
      const runs = new Map(recent.rows.map((r) => [r.client_id, r]));

      setGauge(
        this.lastActivity,
        clients.rows.flatMap((c): [{ client: string }, number][] => {
          const t = epochSeconds(c.last_at);
          return t === null ? [] : [[{ client: c.slug }, t]];
        }),
      );
      setCounter(
        this.events,
        events.rows.flatMap((r): [{ client: string; kind: string }, number][] => {
          const client = slug.get(r.client_id);
          return client ? [[{ client, kind: r.kind }, Number(r.events)]] : [];
        }),
      );
      setCounter(
        this.hoursSaved,
        clients.rows.map((c) => [{ client: c.slug }, (minutes.get(c.slug) ?? 0) / 60]),
      );
      setCounter(this.roi, roi);
      setCounter(
        this.webhookFailures,
        clients.rows.map((c) => [{ client: c.slug }, webhook.get(c.slug) ?? 0]),
      );
      setGauge(
        this.score,
        clients.rows.map((c) => {
          const r = runs.get(c.id);
          const days = c.last_at ? (c.now.getTime() - c.last_at.getTime()) / 86_400_000 : null;
          return [{ client: c.slug }, activityScore(days, Number(r?.runs ?? 0), Number(r?.failures ?? 0))];
        }),
      );
    };
  }

  reset(): void {
    for (const m of [this.lastActivity, this.events, this.hoursSaved, this.roi, this.webhookFailures, this.score]) m.reset();
  }
}
