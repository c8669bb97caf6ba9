import { z } from 'zod';
import type { ApiRouter } from '../route';
import { clientRef, isoDate } from '../schemas';
import { findClient, type RouteDeps } from './common';

const DAY = 86400_000;
const usageQuery = z.strictObject({ client: clientRef.optional(), from: isoDate, to: isoDate }).superRefine((q, ctx) => {
  const span = (Date.parse(q.to) - Date.parse(q.from)) / DAY;
  if (span < 0) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
  if (span > 366) ctx.addIssue({ code: 'custom', path: ['to'], message: 'the range must be at most 366 days' });
});

/**
 * Usage and ROI per client over a range of days, from client_daily_stats:
 *   value = hours saved × the client's hourly value (enabled automations, weighted by minutes per run)
 *   cost  = subscription amounts prorated over the range (30.4375 days a month)
 *   roi   = (value − cost) / cost, null when there is no cost or the currencies differ.
 */
export function usageRoutes(r: ApiRouter, d: RouteDeps): void {
  const { pool } = d;
  r.route(
    {
      method: 'get',
      path: '/usage',
      summary: 'Runs, failures, hours saved and ROI per client over a range of days',
      access: 'read',
      query: usageQuery,
    },
    async ({ query }) => {
      const clientId = query.client ? (await findClient(pool, query.client)).id : null;
      const { rows } = await pool.query<{
        slug: string;
        runs: string;
        failures: string;
        minutes: string;
        hourly_cents: string | null;
        value_currency: string | null;
        cost_cents: string | null;
        cost_currency: string | null;
      }>(
        `WITH s AS (
           SELECT client_id, sum(workflow_runs) AS runs, sum(failures) AS failures, sum(minutes_saved) AS minutes
             FROM client_daily_stats WHERE day BETWEEN $2::date AND $3::date GROUP BY client_id
         ), v AS (
           SELECT client_id,
                  CASE WHEN sum(minutes_saved_per_run) > 0 THEN sum(hourly_value_cents * minutes_saved_per_run) / sum(minutes_saved_per_run)
                       ELSE avg(hourly_value_cents) END AS hourly_cents,
                  min(currency) AS currency
             FROM automations WHERE enabled GROUP BY client_id
         ), sub AS (
           SELECT client_id, min(currency) AS currency, count(DISTINCT currency) AS currencies,
                  sum(monthly_amount_cents * greatest(0, extract(epoch FROM
                      least(coalesce(canceled_at, 'infinity'), ($3::date + 1)::timestamptz) - greatest(started_at, $2::date::timestamptz))) / 86400 / 30.4375) AS cost
             FROM subscriptions GROUP BY client_id
         )
         SELECT c.slug, coalesce(s.runs, 0)::text AS runs, coalesce(s.failures, 0)::text AS failures, coalesce(s.minutes, 0)::text AS minutes,
                v.hourly_cents::text, v.currency AS value_currency,
                CASE WHEN sub.currencies = 1 THEN sub.cost::text END AS cost_cents, sub.currency AS cost_currency
           FROM clients c LEFT JOIN s ON s.client_id = c.id LEFT JOIN v ON v.client_id = c.id LEFT JOIN sub ON sub.client_id = c.id
          WHERE $1::uuid IS NULL OR c.id = $1
          ORDER BY c.slug LIMIT 1000`,
        [clientId, query.from, query.to],
      );
      return {
        from: query.from,
        to: query.to,
        data: rows.map((row) => {
          const runs = Number(row.runs);
          const failures = Number(row.failures);
          const hoursSaved = Number(row.minutes) / 60;
          const valueCents = row.hourly_cents === null ? 0 : Math.round(hoursSaved * Number(row.hourly_cents));
          const costCents = row.cost_cents === null ? null : Math.round(Number(row.cost_cents));
          const comparable = costCents !== null && costCents > 0 && (row.value_currency ?? row.cost_currency) === row.cost_currency;
          return {
            client: row.slug,
            runs,
            failures,
            failureRatio: runs > 0 ? failures / runs : 0,
            hoursSaved: Math.round(hoursSaved * 100) / 100,
            valueCents,
            valueCurrency: row.value_currency ?? row.cost_currency ?? null,
            costCents,
            costCurrency: row.cost_currency,
            roi: comparable ? Math.round(((valueCents - costCents!) / costCents!) * 10_000) / 10_000 : null,
          };
        }),
      };
    },
  );
}
