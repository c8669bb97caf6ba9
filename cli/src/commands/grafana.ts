import type { Command } from 'commander';
import { keyringFromConfig, UserError } from '@ct/lib';
import { withDatabase } from './context';

const actor = () => `cli:${process.env.USER ?? 'operator'}`.slice(0, 200);

/** The Grafana API client from GRAFANA_* settings (loaded when a command runs, like the package). */
async function grafanaFromEnv() {
  const portal = await import('@ct/client-portal');
  const cfg = portal.loadGrafanaApiConfig();
  return {
    portal,
    grafana: new portal.GrafanaClient({ url: cfg.GRAFANA_URL, auth: cfg.grafanaAuth, timeoutSeconds: cfg.GRAFANA_TIMEOUT }),
  };
}

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
          actor: actor(),
          dryRun: opts.dryRun,
          clientSlug: opts.client,
        });
        process.stdout.write(portal.formatSyncResult(result));
        if (result.problems.length) throw new UserError(`sync incomplete: ${result.problems.length} problem(s) above`);
      });
    });

  const client = program.command('client').description('clients of the agency');
  const portalUser = client.command('portal-user').description("a client's users of its Grafana organisation (Viewers)");
  portalUser
    .command('add')
    .description("create a Viewer of the client's organisation; its one-time password is printed once")
    .argument('<client>', "the client's slug")
    .argument('<email>', 'the login and email of the user')
    .action(async (slug: string, email: string) => {
      const { portal, grafana: g } = await grafanaFromEnv();
      await withDatabase(async (pool) => {
        const added = await portal.addPortalUser({ pool, grafana: g, actor: actor(), clientSlug: slug, email });
        process.stderr.write(
          `created portal user ${added.email} in ${slug}'s organisation (Viewer); its password is shown this once, ` +
            'hand it over securely and have it changed at first sign-in:\n',
        );
        process.stdout.write(`${added.password}\n`);
      });
    });
  portalUser
    .command('remove')
    .description("remove a user from the client's organisation (and from Grafana when it is in no other)")
    .argument('<client>', "the client's slug")
    .argument('<email>', 'the user')
    .action(async (slug: string, email: string) => {
      const { portal, grafana: g } = await grafanaFromEnv();
      await withDatabase(async (pool) => {
        const r = await portal.removePortalUser({ pool, grafana: g, actor: actor(), clientSlug: slug, email });
        process.stdout.write(`removed ${email.trim().toLowerCase()} from ${slug}${r.deleted ? ' and deleted the Grafana user' : ''}\n`);
      });
    });
  portalUser
    .command('list')
    .description("the users of the client's organisation")
    .argument('<client>', "the client's slug")
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { json?: boolean }) => {
      const { portal, grafana: g } = await grafanaFromEnv();
      await withDatabase(async (pool) => {
        const users = await portal.listPortalUsers({ pool, grafana: g, actor: actor(), clientSlug: slug });
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify(users.map((u) => ({ email: u.email, login: u.login, role: u.role, lastSeen: u.lastSeenAtAge ?? null })))}\n`,
          );
          return;
        }
        if (users.length === 0) process.stdout.write(`${slug} has no portal user\n`);
        for (const u of users) process.stdout.write(`${u.email}\t${u.role}\tlast seen ${u.lastSeenAtAge ?? 'never'}\n`);
      });
    });
}
