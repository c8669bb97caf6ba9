import { RowBuilder, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { prom, sql } from '../queries';
import { GREEN, ORANGE, RED, rangeText, stat, table, timeseries, valueText } from '../panels';
import { ADMIN_UIDS, adminDashboard } from './common';

/** A "never succeeded" timestamp (0) makes an age of ~56 years: say "never", in red. */
const NEVER = rangeText(1e9, null, 'never', RED);

/** CT Admin — Backups & recovery: "can I restore?" */
export function backups(): Dashboard {
  const age = (kind: string, title: string, description: string, orange: number, red: number) =>
    stat({
      title,
      description,
      unit: 's',
      queries: [prom('A', `time() - max(ct_backup_last_success_timestamp_seconds{kind="${kind}"})`, { instant: true })],
      mappings: [NEVER],
      thresholds: [
        [null, GREEN],
        [orange, ORANGE],
        [red, RED],
      ],
      noValue: 'no backup metrics',
      w: 6,
      h: 4,
    });
  return adminDashboard(
    ADMIN_UIDS.backups,
    'CT Admin — Backups & recovery',
    'Encrypted off-site backups of the platform database and n8n, and the restore drills that prove they restore.',
  )
    .withRow(new RowBuilder('Last success'))
    .withPanel(
      age(
        'database',
        'Database backup',
        'Time since the last successful database backup. Scheduled every 6 h; BackupOverdue texts after 8 h.',
        6 * 3600,
        8 * 3600,
      ),
    )
    .withPanel(age('n8n', 'n8n backup', 'Time since the last successful backup of n8n (workflows and credentials).', 24 * 3600, 48 * 3600))
    .withPanel(
      age(
        'drill',
        'Restore drill',
        'Time since a backup was last restored into a scratch database and checked. RestoreDrillOverdue shows after 8 days.',
        7 * 86400,
        8 * 86400,
      ),
    )
    .withPanel(
      stat({
        title: 'Last drill restore time',
        description: 'How long the last successful restore drill took end to end: roughly how long a real restore would take.',
        unit: 's',
        queries: [prom('A', 'max(ct_backup_last_duration_seconds{kind="drill"})', { instant: true })],
        noValue: 'no drill yet',
        w: 6,
        h: 4,
      }),
    )
    .withRow(new RowBuilder('Runs'))
    .withPanel(
      stat({
        title: 'Last size',
        description: 'Size of the last successful run of each kind (the drill records none).',
        unit: 'bytes',
        queries: [prom('A', 'max by (kind) (ct_backup_last_size_bytes)', { instant: true, legend: '{{kind}}' })],
        textMode: 'value_and_name',
        noValue: 'no successful backup yet',
        w: 4,
        h: 7,
      }),
    )
    .withPanel(
      stat({
        title: 'Last duration',
        description: 'How long the last successful run of each kind took.',
        unit: 's',
        queries: [prom('A', 'max by (kind) (ct_backup_last_duration_seconds)', { instant: true, legend: '{{kind}}' })],
        textMode: 'value_and_name',
        noValue: 'no successful run yet',
        w: 4,
        h: 7,
      }),
    )
    .withPanel(
      stat({
        title: 'Failures in a row',
        description: 'Failed runs of each kind since its last success; BackupFailedRepeatedly calls at 2.',
        unit: 'none',
        queries: [prom('A', 'max by (kind) (ct_backup_consecutive_failures)', { instant: true, legend: '{{kind}}' })],
        textMode: 'value_and_name',
        thresholds: [
          [null, GREEN],
          [1, ORANGE],
          [2, RED],
        ],
        noValue: 'no backup metrics',
        w: 4,
        h: 7,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Backup size',
        description: 'Size of the last successful backup of each kind over time: a sudden drop means something is missing from it.',
        unit: 'bytes',
        queries: [prom('A', 'max by (kind) (ct_backup_last_size_bytes)', { legend: '{{kind}}' })],
        min: 0,
        w: 12,
        h: 7,
      }),
    )
    .withPanel(
      table({
        title: 'Recent runs',
        description: 'The latest backup and drill runs, newest first, with their error when they failed.',
        unit: 'none',
        queries: [
          sql(
            'A',
            `SELECT started_at, kind, status,
                    justify_interval(make_interval(secs => round(duration_seconds::numeric)::double precision))::text AS took,
                    pg_size_pretty(bytes) AS size, error
               FROM dashboard.backup_runs
              ORDER BY started_at DESC
              LIMIT 50`,
          ),
        ],
        columns: [
          { field: 'started_at', title: 'Started' },
          { field: 'kind', title: 'Kind' },
          { field: 'status', title: 'Status', color: 'text' },
          { field: 'took', title: 'Took' },
          { field: 'size', title: 'Size' },
          { field: 'error', title: 'Error' },
        ],
        mappings: [valueText({ succeeded: ['succeeded', GREEN], failed: ['failed', RED], running: ['running', 'blue'] })],
        noValue: 'No backup has run yet',
        w: 24,
        h: 10,
      }),
    )
    .build();
}
