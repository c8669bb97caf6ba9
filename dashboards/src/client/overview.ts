import { RowBuilder, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { CURRENCY_UNIT } from '../admin/common';
import { ANY_IS_A_WARNING, GREEN, GREY, ORANGE, RED, rangeText, stat, table, timeseries, valueText } from '../panels';
import { prom, sql } from '../queries';
import { CLIENT_UIDS, clientDashboard, forPortal } from './common';

/**
 * Client overview, the home dashboard of each client's own Grafana organisation: what the agency's
 * automations did for the business, in words the owner of a pizza shop uses.
 *
 * Its queries name no client. Every PromQL selector reaches Prometheus through the tenant proxy,
 * which forces `client="<slug>"` onto it; every SQL query runs as the client's own database role,
 * which sees only the client's rows (schema `portal`, migration 015).
 */

/** Runs that did not finish well (the admin portal counts error and crashed as failures). */
const FAILED = 'status=~"error|crashed"';
const RUNS = 'ct_workflow_executions_total';

export function clientOverview(): Dashboard {
  const dashboard = clientDashboard(
    CLIENT_UIDS.overview,
    'Client overview',
    'What your automations did for your business: tasks done, time and money saved, your bills and the latest activity.',
  )
    .withRow(new RowBuilder('At a glance'))
    .withPanel(
      stat({
        title: 'Tasks done (7 days)',
        description: 'How many times your automations ran over the last 7 days, whatever the outcome.',
        unit: 'none',
        queries: [prom('A', `round(sum(increase(${RUNS}[7d])))`, { instant: true })],
        decimals: 0,
        noValue: 'No automation yet',
        w: 3,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Went well (7 days)',
        description: 'The share of the runs of the last 7 days that finished without a problem.',
        unit: 'percentunit',
        queries: [prom('A', `1 - sum(increase(${RUNS}{${FAILED}}[7d])) / (sum(increase(${RUNS}[7d])) > 0)`, { instant: true })],
        decimals: 0,
        min: 0,
        max: 1,
        thresholds: [
          [null, RED],
          [0.8, ORANGE],
          [0.95, GREEN],
        ],
        noValue: 'Nothing ran in the last 7 days',
        w: 3,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Needed attention (7 days)',
        description: 'Runs of the last 7 days that stopped with a problem. We are alerted and look into them; nothing to do on your side.',
        unit: 'none',
        queries: [prom('A', `round(sum(increase(${RUNS}{${FAILED}}[7d])))`, { instant: true })],
        decimals: 0,
        thresholds: ANY_IS_A_WARNING,
        noValue: 'No automation yet',
        w: 3,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Hours saved (7 days)',
        description: 'Hours of manual work your automations did for you over the last 7 days (each successful run × the minutes it saves).',
        unit: 'h',
        queries: [prom('A', `sum(increase(ct_client_time_saved_seconds_total[7d])) / 3600`, { instant: true })],
        decimals: 1,
        noValue: 'Not measured yet',
        w: 3,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Value saved (7 days)',
        description: 'What the hours saved over the last 7 days are worth, at the hourly value agreed for each automation.',
        unit: CURRENCY_UNIT,
        queries: [prom('A', `sum(increase(ct_client_roi_value_total[7d]))`, { instant: true })],
        decimals: 0,
        noValue: 'Not measured yet',
        w: 3,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Last activity',
        description: 'When your automations last reported something they did for you (an order taken, a booking made…).',
        unit: 'dateTimeFromNow',
        queries: [prom('A', `max(ct_client_last_activity_timestamp_seconds) * 1000`, { instant: true })],
        noValue: 'Nothing reported yet',
        w: 3,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Open invoices',
        description: 'Invoices not paid yet, including any past their due date.',
        unit: 'none',
        queries: [prom('A', `sum(ct_client_invoices_open) or vector(0)`, { instant: true })],
        decimals: 0,
        mappings: [rangeText(0, 0, 'All paid', GREEN)],
        w: 3,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Amount due',
        description: 'The total of your open invoices.',
        unit: CURRENCY_UNIT,
        queries: [prom('A', `sum(ct_client_invoices_open_amount) or vector(0)`, { instant: true })],
        decimals: 2,
        mappings: [rangeText(0, 0, 'Nothing', GREY)],
        w: 3,
        h: 4,
      }),
    )
    .withRow(new RowBuilder('Over time'))
    .withPanel(
      timeseries({
        title: 'Tasks per hour',
        description: 'Runs of your automations each hour: done, and stopped with a problem.',
        unit: 'none',
        queries: [
          prom('A', `round(sum(increase(${RUNS}{status="success"}[1h])))`, { legend: 'done' }),
          prom('B', `round(sum(increase(${RUNS}{${FAILED}}[1h])))`, { legend: 'stopped with a problem' }),
        ],
        min: 0,
        bars: true,
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Went well, over time',
        description: 'The share of the runs of each past hour that finished without a problem. Gaps are hours with no run.',
        unit: 'percentunit',
        queries: [prom('A', `1 - sum(increase(${RUNS}{${FAILED}}[1h])) / (sum(increase(${RUNS}[1h])) > 0)`, { legend: 'went well' })],
        min: 0,
        max: 1,
        thresholds: [
          [null, RED],
          [0.8, ORANGE],
          [0.95, GREEN],
        ],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Hours saved so far',
        description: 'All the hours of manual work your automations have done for you since they started.',
        unit: 'h',
        queries: [prom('A', `sum(client:ct_client_hours_saved:total)`, { legend: 'hours saved' })],
        min: 0,
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Value delivered so far',
        description: 'What all those hours are worth, at the hourly value agreed for each automation.',
        unit: CURRENCY_UNIT,
        queries: [prom('A', `sum(ct_client_roi_value_total)`, { legend: 'value delivered' })],
        min: 0,
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Return on your plan',
        description: 'Value delivered over the past 30 days divided by your monthly fee: above 1, your automations pay for themselves.',
        unit: 'none',
        queries: [prom('A', `sum(increase(ct_client_roi_value_total[30d])) / sum(ct_client_mrr)`, { legend: 'value ÷ monthly fee' })],
        decimals: 1,
        min: 0,
        thresholds: [
          [null, ORANGE],
          [1, GREEN],
        ],
        w: 8,
        h: 8,
      }),
    )
    .withRow(new RowBuilder('Your automations and bills'))
    .withPanel(
      table({
        title: 'Your automations',
        description: 'Each automation we run for you: switched on or paused, and when it last finished well or stopped with a problem.',
        unit: 'none',
        queries: [
          prom('A', `max by (workflow, name) (ct_workflow_active)`, { table: true }),
          prom('B', `max by (workflow) (ct_workflow_last_success_timestamp_seconds) * 1000`, { table: true }),
          prom('C', `max by (workflow) (ct_workflow_last_failure_timestamp_seconds) * 1000`, { table: true }),
        ],
        joinBy: 'workflow',
        columns: [
          { field: 'name', title: 'Automation' },
          { field: 'Value #A', title: 'State', color: 'text' },
          { field: 'Value #B', title: 'Last done', time: true },
          { field: 'Value #C', title: 'Last problem', time: true },
        ],
        mappings: [valueText({ 1: ['on', GREEN], 0: ['paused', ORANGE] })],
        noValue: 'No automation yet',
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      table({
        title: 'Bills to pay',
        description: 'Your open invoices, the next one due first; one past its due date is shown in red.',
        unit: 'none',
        queries: [
          sql(
            'A',
            `SELECT number, to_char(amount, 'FM999G999G990D00') || ' ' || currency AS amount, issued_at, due_at, overdue
               FROM portal.invoices
              WHERE status = 'open'
              ORDER BY due_at NULLS LAST
              LIMIT 50`,
          ),
        ],
        columns: [
          { field: 'number', title: 'Invoice' },
          { field: 'amount', title: 'Amount' },
          { field: 'issued_at', title: 'Issued' },
          { field: 'due_at', title: 'Due' },
          { field: 'overdue', title: 'Late', color: 'background' },
        ],
        mappings: [valueText({ true: ['late', RED], false: ['', 'transparent'] })],
        noValue: 'Nothing to pay',
        w: 12,
        h: 8,
      }),
    )
    .withRow(new RowBuilder('What happened'))
    .withPanel(
      table({
        title: 'Recent activity',
        description: 'What your automations reported doing for you, newest first, over the chosen time range.',
        unit: 'none',
        queries: [
          sql(
            'A',
            `SELECT time, what
               FROM portal.activity_feed
              WHERE $__timeFilter(time)
              ORDER BY time DESC
              LIMIT 200`,
          ),
        ],
        columns: [
          { field: 'time', title: 'When' },
          { field: 'what', title: 'What happened' },
        ],
        noValue: 'Nothing reported in this time range',
        w: 24,
        h: 10,
      }),
    )
    .build();
  return forPortal(dashboard);
}
