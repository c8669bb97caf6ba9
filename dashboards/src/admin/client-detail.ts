import { QueryVariableBuilder, RowBuilder, VariableRefresh, VariableSort, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { PROMETHEUS } from '../datasources';
import { prom, sql } from '../queries';
import { ANY_IS_BAD, GREEN, GREY, ORANGE, RED, rangeText, stat, table, timeseries, valueText } from '../panels';
import { ADMIN_UIDS, adminDashboard, CURRENCY_UNIT } from './common';
import { FAILURES } from './clients';

const C = 'client="$client"';

/** CT Admin — Client detail: everything about one client, chosen with the `client` variable. */
export function clientDetail(): Dashboard {
  return adminDashboard(
    ADMIN_UIDS.clientDetail,
    'CT Admin — Client detail',
    'One client: runs, failures and success ratio, stuck executions, webhook failures, hours saved and ROI, revenue, invoices and activity.',
  )
    .withVariable(
      new QueryVariableBuilder('client')
        .label('Client')
        .description("The client's slug")
        .datasource(PROMETHEUS)
        .query('label_values(ct_client_info, client)')
        .definition('label_values(ct_client_info, client)')
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(false)
        .includeAll(false),
    )
    .withRow(new RowBuilder('$client'))
    .withPanel(
      stat({
        title: 'Status',
        description: 'The client’s status and plan: active, paused (its automations are on hold) or churned (its webhooks are refused).',
        unit: 'none',
        queries: [prom('A', `sum by (status, plan) (ct_client_info{${C}})`, { instant: true, legend: '{{status}} · {{plan}}' })],
        textMode: 'name',
        noValue: 'unknown client',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'MRR',
        description: 'Monthly recurring revenue from this client’s active subscriptions.',
        unit: CURRENCY_UNIT,
        queries: [prom('A', `sum(ct_client_mrr{${C}})`, { instant: true })],
        decimals: 0,
        noValue: 'no active subscription',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Open / overdue invoices',
        description: 'Open invoices (overdue ones included) and how many are past their due date.',
        unit: 'none',
        queries: [
          prom('A', `sum(ct_client_invoices_open{${C}}) or vector(0)`, { instant: true, legend: 'open' }),
          prom('B', `sum(ct_client_invoices_overdue{${C}}) or vector(0)`, { instant: true, legend: 'overdue' }),
        ],
        textMode: 'value_and_name',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Last activity',
        description: 'When the client’s workflows last reported an event. Fourteen days of silence is a churn risk.',
        unit: 's',
        queries: [prom('A', `time() - max(ct_client_last_activity_timestamp_seconds{${C}})`, { instant: true })],
        thresholds: [
          [null, GREEN],
          [7 * 86400, ORANGE],
          [14 * 86400, RED],
        ],
        noValue: 'never',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Churn risk',
        description: 'At risk: no activity for 14 days or an overdue invoice (churned clients are not judged).',
        unit: 'none',
        queries: [prom('A', `max(ct_client_churn_risk{${C}}) or vector(-1)`, { instant: true })],
        mappings: [valueText({ 1: ['At risk', ORANGE], 0: ['OK', GREEN], '-1': ['Not judged', GREY] })],
        background: true,
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Stuck executions',
        description: 'Executions of this client’s workflows running longer than 30 minutes.',
        unit: 'none',
        queries: [
          prom(
            'A',
            `count(ct_workflow_oldest_running_execution_age_seconds{${C}} > scalar(ct:threshold:stuck_execution_seconds)) or vector(0)`,
            {
              instant: true,
            },
          ),
        ],
        thresholds: ANY_IS_BAD,
        w: 4,
        h: 4,
      }),
    )
    .withRow(new RowBuilder('Runs'))
    .withPanel(
      timeseries({
        title: 'Runs by status',
        description: 'Finished executions per hour by final status (success, error, canceled, crashed).',
        unit: 'none',
        queries: [prom('A', `sum by (status) (increase(ct_workflow_executions_total{${C}}[1h]))`, { legend: '{{status}}' })],
        min: 0,
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Success ratio',
        description: 'Share of the runs of the last hour that succeeded. Empty while the client had no run.',
        unit: 'percentunit',
        queries: [
          prom(
            'A',
            `1 - sum(increase(ct_workflow_executions_total{${C}, ${FAILURES}}[1h])) / (sum(increase(ct_workflow_executions_total{${C}}[1h])) > 0)`,
            { legend: 'success ratio' },
          ),
        ],
        min: 0,
        max: 1,
        thresholds: [
          [null, RED],
          [0.5, ORANGE],
          [0.9, GREEN],
        ],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Oldest running execution per workflow',
        description: 'Age of each workflow’s oldest running execution; the red line is the WorkflowStuck threshold (30 min).',
        unit: 's',
        queries: [
          prom('A', `max by (workflow) (ct_workflow_oldest_running_execution_age_seconds{${C}})`, { legend: 'workflow {{workflow}}' }),
        ],
        min: 0,
        thresholds: [
          [null, GREEN],
          [1800, RED],
        ],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Webhook failures',
        description: 'Failed deliveries of the client’s n8n webhooks per 15 minutes; ClientWebhookFailing texts at 3.',
        unit: 'none',
        queries: [prom('A', `sum(increase(ct_client_webhook_failures_total{${C}}[15m]))`, { legend: 'failures / 15 min' })],
        min: 0,
        thresholds: [
          [null, GREEN],
          [3, RED],
        ],
        bars: true,
        w: 12,
        h: 8,
      }),
    )
    .withRow(new RowBuilder('Value'))
    .withPanel(
      timeseries({
        title: 'Hours saved',
        description: 'Cumulative hours of manual work the client’s automations replaced (successful runs × minutes saved per run).',
        unit: 'h',
        queries: [prom('A', `sum(client:ct_client_hours_saved:total{${C}})`, { legend: 'hours saved' })],
        min: 0,
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      stat({
        title: 'Hours saved (30 days)',
        description: 'Hours saved over the last 30 days.',
        unit: 'h',
        queries: [prom('A', `sum(increase(ct_client_time_saved_seconds_total{${C}}[30d])) / 3600`, { instant: true })],
        decimals: 1,
        noValue: 'no automation value set',
        w: 4,
        h: 8,
      }),
    )
    .withPanel(
      stat({
        title: 'ROI (30 days)',
        description: 'Value of the hours saved over 30 days (hours × the automation’s hourly value), against the client’s MRR.',
        unit: CURRENCY_UNIT,
        queries: [prom('A', `sum(increase(ct_client_roi_value_total{${C}}[30d]))`, { instant: true })],
        decimals: 0,
        noValue: 'no automation value set',
        w: 4,
        h: 8,
      }),
    )
    .withPanel(
      stat({
        title: 'ROI multiple (30 days)',
        description: 'Value delivered over 30 days divided by what the client pays a month: above 1, the automations pay for themselves.',
        unit: 'none',
        queries: [prom('A', `sum(increase(ct_client_roi_value_total{${C}}[30d])) / sum(ct_client_mrr{${C}})`, { instant: true })],
        decimals: 1,
        thresholds: [
          [null, RED],
          [1, ORANGE],
          [3, GREEN],
        ],
        mappings: [rangeText(null, 0, 'none yet', GREY)],
        noValue: 'no MRR or no value set',
        w: 8,
        h: 8,
      }),
    )
    .withRow(new RowBuilder('Automations, invoices and activity'))
    .withPanel(
      table({
        title: 'Workflows',
        description: 'The client’s mapped n8n workflows: active or not, and when each last succeeded and failed.',
        unit: 'none',
        queries: [
          prom('A', `max by (workflow, name) (ct_workflow_active{${C}})`, { table: true }),
          prom('B', `max by (workflow) (ct_workflow_last_success_timestamp_seconds{${C}}) * 1000`, { table: true }),
          prom('C', `max by (workflow) (ct_workflow_last_failure_timestamp_seconds{${C}}) * 1000`, { table: true }),
        ],
        joinBy: 'workflow',
        columns: [
          { field: 'name', title: 'Workflow' },
          { field: 'workflow', title: 'n8n id' },
          { field: 'Value #A', title: 'State', color: 'text' },
          { field: 'Value #B', title: 'Last success', time: true },
          { field: 'Value #C', title: 'Last failure', time: true },
        ],
        mappings: [valueText({ 1: ['active', GREEN], 0: ['inactive', ORANGE] })],
        noValue: 'No mapped workflow reported by n8n',
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      table({
        title: 'Invoices',
        description: 'The client’s invoices, newest first; overdue ones in red.',
        unit: 'none',
        queries: [
          sql(
            'A',
            `SELECT number, to_char(amount, 'FM999G999G990D00') || ' ' || currency AS amount, status, issued_at, due_at, paid_at, overdue
               FROM dashboard.invoices
              WHERE client_slug = '$client'
              ORDER BY issued_at DESC NULLS FIRST
              LIMIT 50`,
          ),
        ],
        columns: [
          { field: 'number', title: 'Number' },
          { field: 'amount', title: 'Amount' },
          { field: 'status', title: 'Status' },
          { field: 'issued_at', title: 'Issued' },
          { field: 'due_at', title: 'Due' },
          { field: 'paid_at', title: 'Paid' },
          { field: 'overdue', title: 'Overdue', color: 'background' },
        ],
        mappings: [valueText({ true: ['overdue', RED], false: ['', 'transparent'] })],
        noValue: 'No invoices',
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      table({
        title: 'Activity history',
        description: 'What the client’s workflows reported and what was done for the client, newest first, over the chosen time range.',
        unit: 'none',
        queries: [
          sql(
            'A',
            `SELECT time, source, what, actor, outcome
               FROM dashboard.activity_feed
              WHERE client_slug = '$client' AND $__timeFilter(time)
              ORDER BY time DESC
              LIMIT 200`,
          ),
        ],
        columns: [
          { field: 'time', title: 'Time' },
          { field: 'source', title: 'Source' },
          { field: 'what', title: 'What happened' },
          { field: 'actor', title: 'By' },
          { field: 'outcome', title: 'Outcome' },
        ],
        noValue: 'No activity in this time range',
        w: 24,
        h: 10,
      }),
    )
    .build();
}
