import { RowBuilder, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { prom, sql } from '../queries';
import { ANY_IS_A_WARNING, ANY_IS_BAD, GREEN, ORANGE, RED, UP, rangeText, stat, table, valueText } from '../panels';
import { ADMIN_UIDS, adminDashboard, CURRENCY_UNIT, dashboardUrl } from './common';

/** Alerts that are noise on the command centre: the always-firing heartbeat of the alerting pipeline. */
const FIRING = 'ALERTS{alertstate="firing", alertname!="Watchdog"}';

/**
 * CT Admin — Overview, the home dashboard of org 1: "is anything on fire, and what does the
 * business earn?" Platform health, revenue, firing alerts and the latest activity, top to bottom.
 */
export function overview(): Dashboard {
  const up = valueText({ 1: ['Operational', GREEN], 0: ['Down', RED] });
  return adminDashboard(
    ADMIN_UIDS.overview,
    'CT Admin — Overview',
    'The command centre: platform health, revenue, firing alerts and the latest activity.',
    '10s',
  )
    .withRow(new RowBuilder('Platform health'))
    .withPanel(
      stat({
        title: 'API',
        description: 'Whether Prometheus reaches the platform API (its /metrics answers). Details on the Platform dashboard.',
        unit: 'none',
        queries: [prom('A', 'max(up{job="ct_api"}) or vector(0)', { instant: true })],
        mappings: [up],
        thresholds: UP,
        background: true,
        w: 4,
        h: 4,
        links: [{ title: 'Platform', url: dashboardUrl(ADMIN_UIDS.platform) }],
      }),
    )
    .withPanel(
      stat({
        title: 'API latency (avg, 5 min)',
        description: 'Mean time the API took to answer over the last 5 minutes, all routes. ApiSlow texts when p95 passes 2 s.',
        unit: 's',
        queries: [
          prom('A', 'sum(rate(ct_api_request_duration_seconds_sum[5m])) / sum(rate(ct_api_request_duration_seconds_count[5m]))', {
            instant: true,
          }),
        ],
        thresholds: [
          [null, GREEN],
          [0.5, ORANGE],
          [2, RED],
        ],
        noValue: 'no requests',
        decimals: 3,
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'n8n',
        description: "Whether the exporter's last poll of n8n's API succeeded, and how many mapped workflows are active.",
        unit: 'none',
        queries: [prom('A', 'max(ct_n8n_up) or vector(0)', { instant: true })],
        mappings: [up],
        thresholds: UP,
        background: true,
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Workflows active / inactive',
        description: 'Workflows n8n reports active, and inactive ones (an inactive client workflow does not run: check it was meant).',
        unit: 'none',
        queries: [
          prom('A', 'count(ct_workflow_active == 1) or vector(0)', { instant: true, legend: 'active' }),
          prom('B', 'count(ct_workflow_active == 0) or vector(0)', { instant: true, legend: 'inactive' }),
        ],
        textMode: 'value_and_name',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Database',
        description: 'Whether the exporter reached the platform database on its last scrape.',
        unit: 'none',
        queries: [prom('A', 'max(ct_database_up) or vector(0)', { instant: true })],
        mappings: [valueText({ 1: ['Healthy', GREEN], 0: ['Unreachable', RED] })],
        thresholds: UP,
        background: true,
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Uptime (30 days)',
        description: 'Share of successful HTTPS probes of the public endpoints over 30 days (blackbox_exporter), the worst service shown.',
        unit: 'percentunit',
        queries: [prom('A', 'min(service:probe_success:ratio_30d)', { instant: true })],
        thresholds: [
          [null, RED],
          [0.99, ORANGE],
          [0.999, GREEN],
        ],
        decimals: 2,
        min: 0,
        max: 1,
        noValue: 'no probe yet',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Database size',
        description:
          'Size of the platform database, and its share of the disk capacity the exporter was told (EXPORTER_DATABASE_DISK_CAPACITY).',
        unit: 'bytes',
        queries: [prom('A', 'max(ct_database_size_bytes)', { instant: true })],
        noValue: 'unknown',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Database disk used',
        description: 'Database size over its configured disk capacity: plan more disk before 80 %.',
        unit: 'percentunit',
        queries: [prom('A', 'max(ct_database_size_bytes) / max(ct_database_disk_capacity_bytes)', { instant: true })],
        thresholds: [
          [null, GREEN],
          [0.8, ORANGE],
          [0.95, RED],
        ],
        min: 0,
        max: 1,
        noValue: 'capacity not configured',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Stuck executions',
        description: "Executions running longer than the WorkflowStuck threshold (30 min). Restart them from the app's Quick actions.",
        unit: 'none',
        queries: [
          prom('A', 'count(ct_workflow_oldest_running_execution_age_seconds > scalar(ct:threshold:stuck_execution_seconds)) or vector(0)', {
            instant: true,
          }),
        ],
        thresholds: ANY_IS_A_WARNING,
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Last database backup',
        description:
          'Time since the last successful database backup; the schedule is every 6 h, BackupOverdue texts after 8 h. Never = red.',
        unit: 's',
        queries: [prom('A', 'time() - max(ct_backup_last_success_timestamp_seconds{kind="database"})', { instant: true })],
        mappings: [rangeText(1e9, null, 'never', RED)],
        thresholds: [
          [null, GREEN],
          [6 * 3600, ORANGE],
          [8 * 3600, RED],
        ],
        noValue: 'no backup metrics',
        w: 4,
        h: 4,
        links: [{ title: 'Backups & recovery', url: dashboardUrl(ADMIN_UIDS.backups) }],
      }),
    )
    .withPanel(
      stat({
        title: 'Audit chain',
        description:
          "The latest scheduled verification of the audit log's hash chain. Broken = possible tampering (AuditChainInvalid calls).",
        unit: 'none',
        queries: [prom('A', 'max(ct_audit_chain_valid) or vector(-1)', { instant: true })],
        mappings: [valueText({ 1: ['Intact', GREEN], 0: ['BROKEN', RED], '-1': ['Never verified', ORANGE] })],
        background: true,
        w: 4,
        h: 4,
        links: [{ title: 'Security & audit', url: dashboardUrl(ADMIN_UIDS.security) }],
      }),
    )
    .withPanel(
      stat({
        title: 'Scrape targets down',
        description: 'Services Prometheus cannot scrape (ScrapeTargetDown texts after 5 min). Details on the Platform dashboard.',
        unit: 'none',
        queries: [prom('A', 'count(up == 0) or vector(0)', { instant: true })],
        thresholds: ANY_IS_BAD,
        w: 4,
        h: 4,
      }),
    )
    .withRow(new RowBuilder('Revenue'))
    .withPanel(
      stat({
        title: 'MRR',
        description: 'Monthly recurring revenue: the sum of active subscriptions.',
        unit: CURRENCY_UNIT,
        queries: [prom('A', 'sum(ct_mrr)', { instant: true })],
        decimals: 0,
        noValue: 'no billing metrics',
        w: 5,
        h: 4,
        links: [{ title: 'Clients', url: dashboardUrl(ADMIN_UIDS.clients) }],
      }),
    )
    .withPanel(
      stat({
        title: 'Active clients',
        description: 'Clients with status active (paused and churned ones are on the Clients dashboard).',
        unit: 'none',
        queries: [prom('A', 'sum(ct_clients{status="active"})', { instant: true })],
        noValue: 'no billing metrics',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Pending invoices',
        description: 'Open invoices not yet due: how many, and their amount.',
        unit: 'none',
        queries: [prom('A', 'sum(ct_invoices_pending)', { instant: true, legend: 'invoices' })],
        noValue: 'no billing metrics',
        w: 3,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Pending amount',
        description: 'Amount of the open invoices not yet due.',
        unit: CURRENCY_UNIT,
        queries: [prom('A', 'sum(ct_invoices_pending_amount)', { instant: true })],
        decimals: 0,
        noValue: 'no billing metrics',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Overdue invoices',
        description: 'Open invoices past their due date (InvoiceOverdue e-mails): chase them.',
        unit: 'none',
        queries: [prom('A', 'sum(ct_invoices_overdue)', { instant: true })],
        thresholds: ANY_IS_BAD,
        noValue: 'no billing metrics',
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Churn risk',
        description: 'Clients not churned with no activity for 14 days or an overdue invoice: call them. The Clients dashboard names them.',
        unit: 'none',
        queries: [prom('A', 'sum(ct_client_churn_risk)', { instant: true })],
        thresholds: ANY_IS_A_WARNING,
        noValue: 'no billing metrics',
        w: 4,
        h: 4,
        links: [{ title: 'Clients', url: dashboardUrl(ADMIN_UIDS.clients) }],
      }),
    )
    .withRow(new RowBuilder('Alerts'))
    .withPanel(
      stat({
        title: 'Alerts firing',
        description: 'Alerts firing now, the alerting pipeline heartbeat (Watchdog) left out.',
        unit: 'none',
        queries: [prom('A', `count(${FIRING}) or vector(0)`, { instant: true })],
        thresholds: ANY_IS_A_WARNING,
        w: 4,
        h: 8,
      }),
    )
    .withPanel(
      table({
        title: 'Firing alerts',
        description: 'Every alert firing now, with its tier (call, text, email, dashboard), severity, client and since when.',
        unit: 'none',
        queries: [
          prom('A', `max by (alertname, tier, severity, client) (${FIRING})`, { table: true }),
          prom(
            'B',
            `max by (alertname, tier, severity, client) (ALERTS_FOR_STATE) * 1000 and on (alertname, tier, severity, client) ${FIRING}`,
            { table: true },
          ),
        ],
        joinBy: 'alertname',
        columns: [
          { field: 'alertname', title: 'Alert' },
          { field: 'severity', title: 'Severity', color: 'text' },
          { field: 'tier', title: 'Tier' },
          { field: 'client', title: 'Client' },
          { field: 'Value #B', title: 'Since', time: true },
        ],
        mappings: [valueText({ critical: ['critical', RED], high: ['high', ORANGE], medium: ['medium', 'yellow'], low: ['low', 'blue'] })],
        noValue: 'Nothing firing',
        w: 20,
        h: 8,
      }),
    )
    .withRow(new RowBuilder('Activity'))
    .withPanel(
      table({
        title: 'Latest activity',
        description: "Newest first: events the clients' workflows reported and actions recorded in the audit log.",
        unit: 'none',
        queries: [
          sql(
            'A',
            `SELECT time, client, what, actor
               FROM dashboard.activity_feed
              ORDER BY time DESC
              LIMIT 30`,
          ),
        ],
        columns: [
          { field: 'time', title: 'Time' },
          { field: 'client', title: 'Client' },
          { field: 'what', title: 'What happened' },
          { field: 'actor', title: 'By' },
        ],
        noValue: 'No activity yet',
        w: 24,
        h: 12,
      }),
    )
    .build();
}
