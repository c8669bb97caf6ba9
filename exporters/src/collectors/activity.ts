import type { Pool } from '@ct/lib';
import { FingerprintCaches, type Collector } from '../collector';
import {
  encodeFamilies,
  encodeRendered,
  PreparedFamily,
  sqlEpochSeconds,
  sqlSampleLine,
  type EncodedFamily,
  type Labels,
} from '../exposition';
import { fingerprintKey, TableFingerprints } from '../fingerprints';
import { CHURN_INACTIVITY_DAYS, LAST_ACTIVITY_AT, LAST_ACTIVITY_JOIN } from './billing';

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

/** Runs and failures of a client over the score's window. */
interface WindowRow {
  runs: number;
  failures: number;
}
interface ActivityParts extends Record<string, unknown> {
  /**
   * Last activity and events by kind, rendered; and the score's series, one per client, with what
   * it is computed from at each scrape (it moves with the clock): each client's id and last
   * activity (ms since the epoch; null when never).
   */
  events: { families: EncodedFamily[]; score: PreparedFamily; ids: string[]; lastAt: (number | null)[] };
  /** Time saved and ROI, rendered. */
  savings: EncodedFamily[];
  /** Webhook failures, rendered. */
  webhooks: EncodedFamily[];
  /** The score's window of client_daily_stats, by client id: it moves at midnight. */
  window: Map<string, WindowRow>;
}

const SCORE_HELP = `Activity score 0-1: recency × (0.5 + 0.5 × reliability); recency falls from 1 to 0 over ${CHURN_INACTIVITY_DAYS} days without activity, reliability is the success share of the last ${SCORE_WINDOW_DAYS} days of runs.`;

const c = (client: string): Labels => [['client', client]];

const LAST_ACTIVITY = {
  name: 'ct_client_last_activity_timestamp_seconds',
  type: 'gauge',
  help: "When the client's last activity event occurred (or the API last recorded activity); absent when it never had any.",
} as const;
const LAST_ACTIVITY_LINE = sqlSampleLine(LAST_ACTIVITY.name, [['client', 'slug']], sqlEpochSeconds('last_at'));
const EVENTS = {
  name: 'ct_client_activity_events_total',
  type: 'counter',
  help: 'Activity events received from the client workflows, by kind.',
} as const;
const EVENTS_LINE = sqlSampleLine(
  EVENTS.name,
  [
    ['client', 'c.slug'],
    ['kind', 'k.kind'],
  ],
  'k.events::text',
);
const forever = <T>(value: T) => ({ value, until: Infinity });

/**
 * Per-client activity from summary tables only, a few rows per client: client_activity_counts
 * (kept by a trigger on activity_events), client_savings, client_webhook_failures and
 * client_daily_stats (kept by execution ingestion). A scrape never scans events or executions.
 * These families grow with the number of clients, so they are rendered directly, in parts each
 * read and rendered again only when a fingerprint of its own tables changed (or, for the score's
 * window, at midnight): activity events, which arrive all day long, read the last activity and
 * the events again, not the savings or the webhook failures. The score alone, which moves with
 * the clock, is computed at every scrape from the rows kept.
 */
export class ActivityCollector implements Collector {
  readonly name = 'activity';
  families: EncodedFamily[] = [];
  /** What the last read rendered, per part, reused while that part's tables are unchanged. */
  readonly cache = new FingerprintCaches<ActivityParts>();
  /** The score's series for one list of clients (ids and slugs, in slug order). */
  private scoreSeries: { members: string; ids: string[]; score: PreparedFamily } | undefined;

  constructor(
    private readonly pool: Pool,
    /** Shared with the billing collector by the exporter, so common tables are fingerprinted once. */
    private readonly fingerprints = new TableFingerprints(pool),
  ) {}

  async read(): Promise<() => void> {
    const f = await this.fingerprints.take();
    const nowMs = f.now.getTime();
    // Savings and webhook failures read the clients' slugs, not their last activity, which each
    // webhook batch touches; when both are read again (execution ingestion), the slugs are read once.
    let slugs: Promise<Map<string, string>> | undefined;
    const slugsOnce = () => (slugs ??= this.slugs());
    const { events, savings, webhooks, window } = await this.cache.get(nowMs, {
      events: [fingerprintKey(f, ['clients', 'client_activity_counts']), async () => forever(await this.loadEvents())],
      savings: [
        fingerprintKey(f, ['clients_except_last_activity', 'client_savings']),
        async () => forever(await this.loadSavings(slugsOnce())),
      ],
      webhooks: [
        fingerprintKey(f, ['clients_except_last_activity', 'client_webhook_failures']),
        async () => forever(await this.loadWebhookFailures(slugsOnce())),
      ],
      window: [fingerprintKey(f, ['client_daily_stats']), async () => ({ value: await this.loadWindow(), until: f.midnight.getTime() })],
    });
    const { ids, lastAt } = events;
    const score = events.score.encode((i) => {
      const t = lastAt[i]!;
      const w = window.get(ids[i]!);
      return activityScore(t === null ? null : (nowMs - t) / 86_400_000, w?.runs ?? 0, w?.failures ?? 0);
    });
    return () => {
      this.families = [...events.families, ...savings, ...webhooks, score];
    };
  }

  /**
   * Clients' slugs by id, in the order of their slugs: the per-client families of every part list
   * the clients in one order, whatever order their rows are stored in (a touch of last activity
   * moves a client's row without reading the savings again).
   */
  private async slugs(): Promise<Map<string, string>> {
    const { rows } = await this.pool.query<{ id: string; slug: string }>('SELECT id, slug FROM clients ORDER BY slug');
    return new Map(rows.map((r) => [r.id, r.slug]));
  }

  /**
   * Last activity and events by kind, from clients and client_activity_counts; the score's series.
   * Read again at every webhook batch, so PostgreSQL renders both families' lines (one text value
   * each, see sqlSampleLine) and lists the clients and their last activity as two strings: a
   * re-read allocates a handful of strings, not objects per client and per counter row. The
   * score's series are prepared again only when the clients themselves changed.
   */
  private async loadEvents(): Promise<ActivityParts['events']> {
    // Two statements side by side (the counters' lines are most of the work). Byte order ("C")
    // sorts faster than a language's collation, and is all these slugs and kinds need. A last
    // activity of ±infinity has no time to show: no series, and "never" for the score.
    const [clients, events] = await Promise.all([
      this.pool.query<{ members: string | null; last_ms: string | null; last_lines: string | null }>(
        `WITH last AS (
           SELECT c.id, c.slug COLLATE "C" AS slug, ${LAST_ACTIVITY_AT} AS last_at
             FROM clients c
             ${LAST_ACTIVITY_JOIN}
         )
         SELECT (SELECT string_agg(id::text || ' ' || slug, ',' ORDER BY slug) FROM last) AS members,
                (SELECT string_agg(CASE WHEN isfinite(last_at) THEN floor(extract(epoch FROM last_at) * 1000)::text ELSE '' END, ',' ORDER BY slug)
                   FROM last) AS last_ms,
                (SELECT string_agg(${LAST_ACTIVITY_LINE}, '' ORDER BY slug) FROM last WHERE isfinite(last_at)) AS last_lines`,
      ),
      this.pool.query<{ lines: string | null }>(
        `SELECT string_agg(${EVENTS_LINE}, '' ORDER BY c.slug COLLATE "C", k.kind COLLATE "C") AS lines
           FROM client_activity_counts k JOIN clients c ON c.id = k.client_id`,
      ),
    ]);
    const { members: listed, last_ms: lastMs, last_lines: lastLines } = clients.rows[0]!;
    const families = await Promise.all([
      encodeRendered(LAST_ACTIVITY, lastLines ?? ''),
      encodeRendered(EVENTS, events.rows[0]!.lines ?? ''),
    ]);
    // Clients' ids and slugs in slug order ("<id> <slug>,…": slugs hold neither a space nor a comma).
    const members = listed ?? '';
    if (this.scoreSeries?.members !== members) {
      const pairs = members ? members.split(',').map((m) => m.split(' ') as [string, string]) : [];
      this.scoreSeries = {
        members,
        ids: pairs.map(([id]) => id),
        score: new PreparedFamily(
          { name: 'ct_client_activity_score', type: 'gauge', help: SCORE_HELP },
          pairs.map(([, slug]) => c(slug)),
        ),
      };
    }
    const lastAt = lastMs ? lastMs.split(',').map((ms) => (ms === '' ? null : Number(ms))) : [];
    return { families, score: this.scoreSeries.score, ids: this.scoreSeries.ids, lastAt };
  }

  /** Time saved and ROI, from clients' slugs and client_savings. */
  private async loadSavings(slugs: Promise<Map<string, string>>): Promise<EncodedFamily[]> {
    const [slug, savings] = await Promise.all([
      slugs,
      this.pool.query<{ client_id: string; currency: string; minutes: string; value_cents: string }>(
        'SELECT client_id, currency, minutes_saved::text AS minutes, value_cents::text AS value_cents FROM client_savings',
      ),
    ]);
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
    return encodeFamilies([
      {
        name: 'ct_client_time_saved_seconds_total',
        type: 'counter',
        help: "Time saved, in seconds: successful executions × the automation's minutes saved per run × 60, valued when each execution was ingested.",
        samples: Array.from(slug.values(), (client) => [c(client), (minutes.get(client) ?? 0) * 60] as const),
      },
      {
        name: 'ct_client_roi_value_total',
        type: 'counter',
        help: "Value of the hours saved, in currency units: hours saved × the automation's hourly value.",
        samples: roi,
      },
    ]);
  }

  /** Webhook failures, from clients' slugs and client_webhook_failures. */
  private async loadWebhookFailures(slugs: Promise<Map<string, string>>): Promise<EncodedFamily[]> {
    const [slug, failures] = await Promise.all([
      slugs,
      this.pool.query<{ client_id: string; n: string }>('SELECT client_id, failures::text AS n FROM client_webhook_failures'),
    ]);
    const webhook = new Map(failures.rows.map((r) => [slug.get(r.client_id), Number(r.n)]));
    return encodeFamilies([
      {
        name: 'ct_client_webhook_failures_total',
        type: 'counter',
        help: "Failed deliveries of the client's n8n webhooks: executions of Webhook-triggered workflows that ended in error or crashed.",
        samples: Array.from(slug.values(), (client) => [c(client), webhook.get(client) ?? 0] as const),
      },
    ]);
  }

  /** Runs and failures per client over the score's window (the last 7 days of client_daily_stats). */
  private async loadWindow(): Promise<Map<string, WindowRow>> {
    const { rows } = await this.pool.query<{ client_id: string; runs: string; failures: string }>(
      `SELECT client_id, sum(workflow_runs)::text AS runs, sum(failures)::text AS failures
         FROM client_daily_stats WHERE day > current_date - $1::int GROUP BY 1`,
      [SCORE_WINDOW_DAYS],
    );
    return new Map(rows.map((r) => [r.client_id, { runs: Number(r.runs), failures: Number(r.failures) }]));
  }

  reset(): void {
    this.families = [];
    this.cache.clear();
    this.scoreSeries = undefined;
  }
}
