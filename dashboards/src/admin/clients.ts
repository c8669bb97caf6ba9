import { RowBuilder, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { prom } from '../queries';
import { ANY_IS_A_WARNING, ANY_IS_BAD, GREEN, GREY, ORANGE, RED, table, timeseries, valueText } from '../panels';
import { ADMIN_UIDS, adminDashboard, CLIENT_ROW_LINK, CURRENCY_UNIT } from './common';

/** A per-client figure, 0 for every known client that has none (so the table shows 0, not a blank). */
const orZero = (expr: string) => `(${expr}) or (sum by (client) (ct_client_info{status!="churned"}) * 0)`;

export const FAILURES = 'status=~"error|crashed"';

/** CT Admin — Clients: "which client needs a call?" One row per client, worst news easy to spot. */
export function clients(): Dashboard {
  return adminDashboard(
    ADMIN_UIDS.clients,
    'CT Admin — Clients',
    'Every client: status, revenue, activity, runs and failures, stuck executions, hours saved, invoices and churn risk.',
  )
    .withRow(new RowBuilder('Clients'))
    .withPanel(
      table({
        title: 'Clients',
        description:
          'One row per client: MRR in the billing currency, runs and failures over the last 24 h, stuck executions, hours saved over 30 days, open and overdue invoices, churn risk (1 = at risk: no activity for 14 days or an overdue invoice). Click a row for the client detail; sort by a column to find who needs a call.',
        unit: 'none',
        decimals: 1,
        queries: [
          prom('A', 'sum by (client, name, status, plan) (ct_client_info)', { table: true }),
          prom('B', 'sum by (client) (ct_client_mrr)', { table: true }),
          prom('C', 'max by (client) (ct_client_last_activity_timestamp_seconds) * 1000', { table: true }),
          prom('D', orZero('round(sum by (client) (increase(ct_workflow_executions_total[24h])))'), { table: true }),
          prom('E', orZero(`round(sum by (client) (increase(ct_workflow_executions_total{${FAILURES}}[24h])))`), { table: true }),
          prom(
            'F',
            orZero('count by (client) (ct_workflow_oldest_running_execution_age_seconds > scalar(ct:threshold:stuck_execution_seconds))'),
            { table: true },
          ),
          prom('G', orZero('sum by (client) (increase(ct_client_time_saved_seconds_total[30d])) / 3600'), { table: true }),
          prom('H', orZero('sum by (client) (ct_client_invoices_open)'), { table: true }),
          prom('I', orZero('sum by (client) (ct_client_invoices_overdue)'), { table: true }),
          prom('J', 'max by (client) (ct_client_churn_risk)', { table: true }),
        ],
        joinBy: 'client',
        columns: [
          { field: 'name', title: 'Client' },
          { field: 'client' },
          { field: 'status', title: 'Status', color: 'text' },
          { field: 'plan', title: 'Plan' },
          { field: 'Value #B', title: 'MRR' },
          { field: 'Value #C', title: 'Last activity', time: true },
          { field: 'Value #D', title: 'Runs 24 h' },
          {
            field: 'Value #E',
            title: 'Failures 24 h',
            color: 'text',
            thresholds: [
              [null, GREEN],
              [1, ORANGE],
              [6, RED],
            ],
          },
          {
            field: 'Value #F',
            title: 'Stuck',
            color: 'text',
            thresholds: ANY_IS_BAD,
          },
          { field: 'Value #G', title: 'Hours saved 30 d' },
          { field: 'Value #H', title: 'Open invoices' },
          {
            field: 'Value #I',
            title: 'Overdue',
            color: 'text',
            thresholds: ANY_IS_BAD,
          },
          {
            field: 'Value #J',
            title: 'Churn risk',
            color: 'background',
            thresholds: ANY_IS_A_WARNING,
          },
        ],
        // Value mappings are per panel: only the status words are mapped, numbers stay numbers.
        mappings: [valueText({ active: ['active', GREEN], paused: ['paused', ORANGE], churned: ['churned', GREY] })],
        rowLink: CLIENT_ROW_LINK,
        sortBy: { field: 'MRR', desc: true },
        noValue: 'No clients yet',
        w: 24,
        h: 12,
      }),
    )
    .withRow(new RowBuilder('Trends'))
    .withPanel(
      timeseries({
        title: 'Runs per client',
        description: 'Workflow executions per client per hour (all final statuses).',
        unit: 'none',
        queries: [prom('A', 'sum by (client) (increase(ct_workflow_executions_total[1h]))', { legend: '{{client}}' })],
        min: 0,
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Failure ratio per client',
        description: "Share of each client's runs in the last hour that failed (recording rule client:ct_workflow_failures:ratio_1h).",
        unit: 'percentunit',
        queries: [prom('A', 'client:ct_workflow_failures:ratio_1h', { legend: '{{client}}' })],
        min: 0,
        max: 1,
        thresholds: [
          [null, GREEN],
          [0.1, ORANGE],
          [0.5, RED],
        ],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'MRR per client',
        description: 'Monthly recurring revenue of each client over time.',
        unit: CURRENCY_UNIT,
        queries: [prom('A', 'sum by (client) (ct_client_mrr)', { legend: '{{client}}' })],
        min: 0,
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Activity score',
        description: 'Recency × reliability, 0–1 (docs/metrics.md): a client sliding towards 0 is drifting away.',
        unit: 'percentunit',
        queries: [prom('A', 'ct_client_activity_score', { legend: '{{client}}' })],
        min: 0,
        max: 1,
        w: 12,
        h: 8,
      }),
    )
    .build();
}
