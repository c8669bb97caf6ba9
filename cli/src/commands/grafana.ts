import type { Command } from 'commander';
import { keyringFromConfig, UserError } from '@ct/lib';
import { cliActor } from './client';
import { withDatabase } from './context';

export function registerGrafanaCommands(program: Command): void {
  const grafana = program.command('grafana').description("Grafana's client organisations (the client portal)");
  grafana
    .command('sync')
    .description(
      'make each client organisation what the clients table says: org, Viewer users, the two portal datasources, ' +
        'the client dashboards and home; churned clients per GRAFANA_CHURNED_ORGS. Idempotent; every change audited.',
    )
    .option('--dry-run', 'print the plan (create / update / nothing to do, per object) and change nothing')
    .option('--client <slug>', 'only this client')
    .action(async (opts: { dryRun?: boolean; client?: string }) => {
      const portal = await import('@ct/client-portal');
      const cfg = portal.loadGrafanaSyncConfig();
      const keyring = keyringFromConfig(cfg);
      const client = new portal.GrafanaClient({ url: cfg.GRAFANA_URL, auth: cfg.grafanaAuth, timeoutSeconds: cfg.GRAFANA_TIMEOUT });
      await withDatabase(async (pool) => {
        const dashboards = portal.loadClientDashboards();
        const result = await portal.syncGrafanaOrgs({
          pool,
          grafana: client,
          settings: {
            tenantProxyUrl: cfg.TENANT_PROXY_URL,
            dbHost: cfg.GRAFANA_PORTAL_DB_HOST,
            dbName: cfg.GRAFANA_PORTAL_DB_NAME,
            dbSslmode: cfg.GRAFANA_PORTAL_DB_SSLMODE,
            churnedOrgs: cfg.GRAFANA_CHURNED_ORGS,
          },
          portalToken: (clientId) => portal.currentPortalToken(pool, keyring, clientId),
          dashboards: () => dashboards,
          actor: cliActor(),
          dryRun: opts.dryRun,
          clientSlug: opts.client,
        });
        process.stdout.write(portal.formatSyncResult(result));
        if (result.problems.length) throw new UserError(`sync incomplete: ${result.problems.length} problem(s) above`);
      });
    });
}
