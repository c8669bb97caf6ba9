import { RowBuilder, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { prom, sql } from '../queries';
import { ANY_IS_A_WARNING, BLUE, GREEN, ORANGE, RED, rangeText, stat, table, timeseries, valueText } from '../panels';
import { ADMIN_UIDS, adminDashboard } from './common';

/** CT Admin — Security & audit: "is someone trying to get in, and is the audit log intact?" */
export function security(): Dashboard {
  return adminDashboard(
    ADMIN_UIDS.security,
    'CT Admin — Security & audit',
    'Authentication failures, rate limiting, webhook results, quick actions, and the audit log with its hash-chain verification.',
  )
    .withRow(new RowBuilder('Audit chain'))
    .withPanel(
      stat({
        title: 'Audit chain',
        description:
          'Result of the latest scheduled verification of the audit log hash chain. Broken = rows changed or removed: possible tampering.',
        unit: 'none',
        queries: [prom('A', 'max(ct_audit_chain_valid) or vector(-1)', { instant: true })],
        mappings: [valueText({ 1: ['Intact', GREEN], 0: ['BROKEN', RED], '-1': ['Never verified', ORANGE] })],
        background: true,
        w: 6,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Last verification',
        description: 'Time since the audit chain was last verified by the scheduler; it runs daily.',
        unit: 's',
        queries: [prom('A', 'time() - max(ct_audit_chain_last_verification_timestamp_seconds)', { instant: true })],
        mappings: [rangeText(1e9, null, 'never', RED)],
        thresholds: [
          [null, GREEN],
          [26 * 3600, ORANGE],
          [3 * 86400, RED],
        ],
        noValue: 'no audit metrics',
        w: 6,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Failed authentications (1 h)',
        description: 'Requests refused by authentication in the last hour, every reason. FailedLoginsHigh e-mails above 10.',
        unit: 'none',
        queries: [prom('A', 'round(sum(increase(ct_auth_failures_total[1h]))) or vector(0)', { instant: true })],
        thresholds: [
          [null, GREEN],
          [1, ORANGE],
          [11, RED],
        ],
        w: 6,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Rate-limited (1 h)',
        description: 'Requests answered 429 in the last hour by the API’s limiters.',
        unit: 'none',
        queries: [prom('A', 'round(sum(increase(ct_rate_limited_total[1h]))) or vector(0)', { instant: true })],
        thresholds: ANY_IS_A_WARNING,
        w: 6,
        h: 4,
      }),
    )
    .withRow(new RowBuilder('Traffic'))
    .withPanel(
      timeseries({
        title: 'Authentication failures by reason',
        description: 'Refused requests per 5 minutes by reason (bad password, bad API key, bad webhook signature, …).',
        unit: 'none',
        queries: [prom('A', 'sum by (reason) (increase(ct_auth_failures_total[5m]))', { legend: '{{reason}}' })],
        min: 0,
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Rate-limited requests',
        description: 'Requests answered 429 per 5 minutes.',
        unit: 'none',
        queries: [prom('A', 'sum(increase(ct_rate_limited_total[5m]))', { legend: '429 / 5 min' })],
        min: 0,
        bars: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Webhook posts by result',
        description: 'Signed events from client workflows per 5 minutes by result: stored, duplicate, bad signature, replay, rejected, …',
        unit: 'none',
        queries: [prom('A', 'sum by (result) (increase(ct_webhook_events_total[5m]))', { legend: '{{result}}' })],
        min: 0,
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Quick actions by outcome',
        description: 'Admin quick actions (restart stuck, rotate secret, force backup, verify, export) per hour by outcome.',
        unit: 'none',
        queries: [prom('A', 'sum by (action, outcome) (increase(ct_quick_actions_total[1h]))', { legend: '{{action}} {{outcome}}' })],
        min: 0,
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      stat({
        title: 'Secret rotations (30 days)',
        description: 'Client webhook secrets rotated in the last 30 days, by outcome.',
        unit: 'none',
        queries: [
          prom('A', 'round(sum by (outcome) (increase(ct_quick_actions_total{action="rotate_secret"}[30d])))', {
            instant: true,
            legend: '{{outcome}}',
          }),
        ],
        textMode: 'value_and_name',
        noValue: 'none',
        w: 6,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Webhook posts refused (1 h)',
        description: 'Signed events refused in the last hour (bad signature, replay, unknown client, invalid, too large, rejected).',
        unit: 'none',
        queries: [
          prom('A', 'round(sum(increase(ct_webhook_events_total{result!~"stored|duplicate"}[1h]))) or vector(0)', { instant: true }),
        ],
        thresholds: ANY_IS_A_WARNING,
        w: 6,
        h: 4,
      }),
    )
    .withPanel(
      table({
        title: 'Verifications',
        description: 'The latest audit chain verifications: rows checked, and the first bad row with the reason when the chain was broken.',
        unit: 'none',
        queries: [
          sql(
            'A',
            `SELECT at, ok, rows_checked, first_bad_id, reason, duration_seconds
               FROM dashboard.audit_verifications
              ORDER BY at DESC
              LIMIT 20`,
          ),
        ],
        columns: [
          { field: 'at', title: 'Verified' },
          { field: 'ok', title: 'Result', color: 'text' },
          { field: 'rows_checked', title: 'Rows checked' },
          { field: 'first_bad_id', title: 'First bad row' },
          { field: 'reason', title: 'Reason' },
          { field: 'duration_seconds', title: 'Took (s)' },
        ],
        mappings: [valueText({ true: ['intact', GREEN], false: ['BROKEN', RED] })],
        noValue: 'Never verified',
        w: 12,
        h: 4,
      }),
    )
    .withRow(new RowBuilder('Audit log'))
    .withPanel(
      table({
        title: 'Latest audit rows',
        description:
          'Every state-changing action, newest first, over the chosen time range: who, what, on what, with which outcome and from where.',
        unit: 'none',
        queries: [
          sql(
            'A',
            `SELECT id, at, actor, action, target_type, target_id, client, outcome, source_ip
               FROM dashboard.audit_log
              WHERE $__timeFilter(at)
              ORDER BY id DESC
              LIMIT 200`,
          ),
        ],
        columns: [
          { field: 'id', title: '#' },
          { field: 'at', title: 'Time' },
          { field: 'actor', title: 'Actor' },
          { field: 'action', title: 'Action' },
          { field: 'target_type', title: 'Target' },
          { field: 'target_id', title: 'Target id' },
          { field: 'client', title: 'Client' },
          { field: 'outcome', title: 'Outcome', color: 'text' },
          { field: 'source_ip', title: 'From' },
        ],
        mappings: [
          valueText({
            success: ['success', GREEN],
            failure: ['failure', RED],
            denied: ['denied', RED],
            partial: ['partial', ORANGE],
            // Recorded before an action on n8n; its outcome follows in a row of the same request.
            requested: ['requested', BLUE],
          }),
        ],
        noValue: 'No audit rows in this time range',
        w: 24,
        h: 12,
      }),
    )
    .build();
}
