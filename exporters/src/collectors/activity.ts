import type { Pool } from '@ct/lib';
import { epochSeconds, FingerprintCache, type Collector } from '../collector';
import { encodeFamilies, PreparedFamily, type EncodedFamily, type Labels } from '../exposition';
import { fingerprintKey, TableFingerprints, type FingerprintedTable } from '../fingerprints';
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

interface ScoreRow {
  /** Last activity, ms since the epoch; null when never. */
  lastAt: number | null;
  runs: number;
  failures: number;
}
interface ActivityState {
  /** Every family but the score, rendered when the tables changed. */
  families: EncodedFamily[];
  /** The score's series, one per client, and what each is computed from at each scrape (it moves with the clock). */
  score: { family: PreparedFamily; rows: ScoreRow[] };
}

/** Every table the activity figures are read from. */
const ACTIVITY_TABLES: readonly FingerprintedTable[] = [
  'clients',
  'client_activity_counts',
  'client_savings',
  'client_webhook_failures',
  'client_daily_stats',
];

const SCORE_HELP = `Activity score 0-1: recency × (0.5 + 0.5 × reliability); recency falls from 1 to 0 over ${CHURN_INACTIVITY_DAYS} days without activity, reliability is the success share of the last ${SCORE_WINDOW_DAYS} days of runs.`;

/**
 * Per-client activity from summary tables only, a few rows per client: client_activity_counts
 * (kept by a trigger on activity_events), client_savings, client_webhook_failures and
 * client_daily_stats (kept by execution ingestion). A scrape never scans events or executions.
 * These families grow with the number of clients, so they are rendered directly, and only when a
 * fingerprint of their tables changed (or at midnight, when the score's window moves); the score
 * alone, which moves with the clock, is computed at every scrape from the rows kept.
 */
export class ActivityCollector implements Collector {
  readonly name = 'activity';
  families: EncodedFamily[] = [];
  /** What the last read rendered, reused while the activity tables are unchanged. */
  readonly cache = new FingerprintCache<ActivityState>();

  constructor(
    private readonly pool: Pool,
    /** Shared with the billing collector by the exporter, so common tables are fingerprinted once. */
    private readonly fingerprints = new TableFingerprints(pool),
  ) {}

  async read(): Promise<() => void> {
    const f = await this.fingerprints.take();
    const { now, midnight } = f;
    const key = fingerprintKey(f, ACTIVITY_TABLES);
    const state = await this.cache.get(key, now.getTime(), async () => ({ value: await this.load(), until: midnight.getTime() }));
    const nowMs = now.getTime();
    const { family, rows } = state.score;
    const score = family.encode((i) => {
      const r = rows[i]!;
      return activityScore(r.lastAt === null ? null : (nowMs - r.lastAt) / 86_400_000, r.runs, r.failures);
    });
    return () => {
      this.families = [...state.families, score];
    };
  }

  private async load(): Promise<ActivityState> {
    const [clients, events, savings, failures, recent] = await Promise.all([
      this.pool.query<{ id: string; slug: string; last_at: Date | null }>(
        `SELECT c.id, c.slug, greatest(c.last_activity_at, act.last_at) AS last_at
           FROM clients c
           LEFT JOIN (SELECT client_id, max(last_occurred_at) AS last_at FROM client_activity_counts GROUP BY 1) act ON act.client_id = c.id`,
      ),
      this.pool.query<{ client_id: string; kind: string; events: string }>(
        'SELECT client_id, kind, events::text FROM client_activity_counts',
      ),
      this.pool.query<{ client_id: string; currency: string; minutes: string; value_cents: string }>(
        'SELECT client_id, currency, minutes_saved::text AS minutes, value_cents::text AS value_cents FROM client_savings',
      ),
      this.pool.query<{ client_id: string; n: string }>('SELECT client_id, failures::text AS n FROM client_webhook_failures'),
      this.pool.query<{ client_id: string; runs: string; failures: string }>(
        `SELECT client_id, sum(workflow_runs)::text AS runs, sum(failures)::text AS failures
           FROM client_daily_stats WHERE day > current_date - $1::int GROUP BY 1`,
        [SCORE_WINDOW_DAYS],
      ),
    ]);
    const slug = new Map(clients.rows.map((c) => [c.id, c.slug]));
    const minutes = new Map<string, number>();
    const roi: (readonly [Labels, number])[] = [];
    for (const r of savings.rows) {
      const client = slug.get(r.client_id);
      if (!client) continue;
      minutes.set(client, (minutes.get(client) ?? 0) + Number(r.minutes));
      roi.push([
        [
          ['client', client],
          ['currency', r.currency],
        ],
        Number(r.value_cents) / 100,
      ]);
    }
    const webhook = new Map(failures.rows.map((r) => [slug.get(r.client_id), Number(r.n)]));
    const runs = new Map(recent.rows.map((r) => [r.client_id, r]));
    const c = (client: string): Labels => [['client', client]];

    const families = await encodeFamilies([
      {
        name: 'ct_client_last_activity_timestamp_seconds',
        type: 'gauge',
        help: "When the client's last activity event occurred (or the API last recorded activity); absent when it never had any.",
        samples: clients.rows.flatMap((r): (readonly [Labels, number])[] => {
          const t = epochSeconds(r.last_at);
          return t === null ? [] : [[c(r.slug), t]];
        }),
      },
      {
        name: 'ct_client_activity_events_total',
        type: 'counter',
        help: 'Activity events received from the client workflows, by kind.',
        samples: events.rows.flatMap((r): (readonly [Labels, number])[] => {
          const client = slug.get(r.client_id);
          return client ? [[[...c(client), ['kind', r.kind]], Number(r.events)]] : [];
        }),
      },
      {
        name: 'ct_client_time_saved_seconds_total',
        type: 'counter',
        help: "Time saved, in seconds: successful executions × the automation's minutes saved per run × 60, valued when each execution was ingested.",
        samples: clients.rows.map((r) => [c(r.slug), (minutes.get(r.slug) ?? 0) * 60] as const),
      },
      {
        name: 'ct_client_roi_value_total',
        type: 'counter',
        help: "Value of the hours saved, in currency units: hours saved × the automation's hourly value.",
        samples: roi,
      },
      {
        name: 'ct_client_webhook_failures_total',
        type: 'counter',
        help: "Failed deliveries of the client's n8n webhooks: executions of Webhook-triggered workflows that ended in error or crashed.",
        samples: clients.rows.map((r) => [c(r.slug), webhook.get(r.slug) ?? 0] as const),
      },
    ]);
    const score = {
      family: new PreparedFamily(
        { name: 'ct_client_activity_score', type: 'gauge', help: SCORE_HELP },
        clients.rows.map((r) => c(r.slug)),
      ),
      rows: clients.rows.map((r): ScoreRow => {
        const day = runs.get(r.id);
        return {
          lastAt: r.last_at ? r.last_at.getTime() : null,
          runs: Number(day?.runs ?? 0),
          failures: Number(day?.failures ?? 0),
        };
      }),
    };
    return { families, score };
  }

  reset(): void {
    this.families = [];
    this.cache.clear();
  }
}
