import React from 'react';
import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { PluginPage } from '@grafana/runtime';
import { LoadingPlaceholder, Stack, Text, useStyles2 } from '@grafana/ui';
import { api } from '../api/client';
import type { PlatformStatus } from '../api/types';
import { ApiErrorAlert } from '../components/ApiErrorAlert/ApiErrorAlert';
import { StatusTile } from '../components/StatusTile/StatusTile';
import { testIds } from '../components/testIds';
import { DASHBOARDS, REFRESH_MS, dashboardUrl } from '../constants';
import { ago, bytes, dateTime, duration } from '../utils/format';
import { useLoad } from '../utils/useLoad';

/** "Everything OK", or which parts are not. */
function overallText(s: PlatformStatus): string {
  const parts = { database: s.database, n8n: s.n8n, backups: s.backups, alerts: s.alerts };
  const bad = Object.entries(parts).filter(([, p]) => p.status === 'warning' || p.status === 'critical');
  return bad.length
    ? `Needs attention: ${bad.map(([name, p]) => `${name} (${p.status})`).join(', ')}`
    : 'Everything reports OK';
}

function tiles(s: PlatformStatus) {
  const db = s.database;
  const b = s.backups;
  return [
    {
      name: 'platform',
      title: 'Platform',
      status: s.platform.status,
      value: `API ${s.platform.version}`,
      details: [`Up for ${duration(s.platform.uptimeSeconds)}`, overallText(s)],
      href: dashboardUrl(DASHBOARDS.platform),
      linkText: 'Platform dashboard',
    },
    {
      name: 'n8n',
      title: 'n8n',
      status: s.n8n.status,
      value: s.n8n.reachable ? `${s.n8n.activeWorkflows ?? 0} active workflows` : 'Unreachable',
      details: s.n8n.reachable ? [`${s.n8n.workflows ?? 0} workflows in total`] : [s.n8n.error ?? 'no answer'],
      href: dashboardUrl(DASHBOARDS.platform),
      linkText: 'Platform dashboard',
    },
    {
      name: 'database',
      title: 'Database',
      status: db.status,
      value: db.reachable ? `Reachable (${db.latencyMs} ms)` : 'Unreachable',
      details: db.reachable
        ? [
            `Migrations ${db.migrations?.applied}/${db.migrations?.total}${db.migrations && db.migrations.applied < db.migrations.total ? ': run ct migrate' : ''}`,
            db.auditChain
              ? db.auditChain.ok
                ? `Audit chain valid (${db.auditChain.rowsChecked} rows, verified ${ago(db.auditChain.verifiedAt)})`
                : `Audit chain BROKEN at row ${db.auditChain.firstBadId}: ${db.auditChain.reason}`
              : 'Audit chain not verified yet',
          ]
        : [db.error ?? 'no answer'],
      href: dashboardUrl(DASHBOARDS.security),
      linkText: 'Security dashboard',
    },
    {
      name: 'backups',
      title: 'Backups',
      status: b.status,
      value: b.running
        ? 'Backup running'
        : b.lastSuccess
          ? `Last ${ago(b.lastSuccess.finishedAt)}`
          : 'No successful backup',
      details: [
        ...(b.running ? [`Started ${dateTime(b.running.startedAt)} (${b.running.kind})`] : []),
        ...(b.lastSuccess ? [`Last success ${dateTime(b.lastSuccess.finishedAt)}, ${bytes(b.lastSuccess.bytes)}`] : []),
        ...(b.lastFailure
          ? [`Last failure ${dateTime(b.lastFailure.finishedAt)}: ${b.lastFailure.error ?? 'no reason'}`]
          : []),
        ...(b.error ? [b.error] : []),
      ],
      href: dashboardUrl(DASHBOARDS.backups),
      linkText: 'Backups dashboard',
    },
    {
      name: 'alerts',
      title: 'Firing alerts',
      status: s.alerts.status,
      value: s.alerts.firing === null ? 'Unknown' : `${s.alerts.firing} firing`,
      details: s.alerts.error
        ? [s.alerts.error]
        : Object.entries(s.alerts.bySeverity ?? {}).map(([severity, n]) => `${n} ${severity}`),
      href: dashboardUrl(DASHBOARDS.overview),
      linkText: 'Admin overview dashboard',
    },
  ];
}

function Overview() {
  const s = useStyles2(getStyles);
  const status = useLoad(() => api.status(), [], REFRESH_MS);
  return (
    <PluginPage>
      <div data-testid={testIds.overview.container}>
        <Stack direction="column" gap={2}>
          {status.error ? (
            <ApiErrorAlert error={status.error} action="Reading the platform status" onRetry={status.reload} />
          ) : null}
          {status.value ? (
            <>
              <div className={s.grid}>
                {tiles(status.value).map((t) => (
                  <StatusTile key={t.name} {...t} />
                ))}
              </div>
              <Text color="secondary" variant="bodySmall" data-testid={testIds.overview.updated}>
                {`Updated ${dateTime(status.value.at)}; refreshes every ${REFRESH_MS / 1000} s${status.error ? ' (the last refresh failed: figures may be stale)' : ''}.`}
              </Text>
            </>
          ) : status.loading ? (
            <LoadingPlaceholder text="Reading the platform status…" />
          ) : null}
        </Stack>
      </div>
    </PluginPage>
  );
}

export default Overview;

const getStyles = (theme: GrafanaTheme2) => ({
  grid: css({
    display: 'grid',
    gridTemplateColumns: 'repeat(auto-fill, minmax(260px, 1fr))',
    gap: theme.spacing(2),
  }),
});
