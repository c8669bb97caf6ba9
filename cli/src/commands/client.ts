import type { Command } from 'commander';
import { keyringFromConfig, loadConfig, UserError } from '@ct/lib';
import { withDatabase } from './context';

/** Who the audit rows of a CLI command name. */
export const cliActor = () => `cli:${process.env.USER ?? 'operator'}`.slice(0, 200);

/** The Grafana API client from GRAFANA_* settings (loaded when a command runs, like the package). */
async function grafanaFromEnv() {
  const portal = await import('@ct/client-portal');
  const cfg = portal.loadGrafanaApiConfig();
  return {
    portal,
    grafana: new portal.GrafanaClient({ url: cfg.GRAFANA_URL, auth: cfg.grafanaAuth, timeoutSeconds: cfg.GRAFANA_TIMEOUT }),
  };
}

/** A whole number typed as a flag stays a number; anything else goes to the schema, which names the field. */
const numeric = (v: string): number | string => (/^\d+$/.test(v) ? Number(v) : v);
const collect = (v: string, prev: string[]) => [...prev, v];

interface OnboardFlags {
  file?: string;
  slug?: string;
  name?: string;
  contactEmail?: string;
  contactPhone?: string;
  timezone?: string;
  plan?: string;
  planName?: string;
  planPriceCents?: number | string;
  currency?: string;
  subscriptionPriceCents?: number | string;
  workflow: string[];
  minutesSaved?: number | string;
  hourlyValueCents?: number | string;
  apiUrl?: string;
  eventType?: string;
  portalUser?: string;
  timeout?: string;
  sendTestEvent?: boolean;
  input: boolean;
}

async function onboard(opts: OnboardFlags): Promise<void> {
  // Required when the command runs, not imported: onboarding loads the platform API (express).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const onb = require('../onboard') as typeof import('../onboard');
  const portal = await import('@ct/client-portal');
  const { N8nClient } = await import('@ct/lib');

  // Defaults from the environment, then the file, then the flags.
  const raw = opts.file ? onb.readSpecFile(opts.file) : {};
  if (raw.reporting === undefined || (typeof raw.reporting === 'object' && onb.getIn(raw, 'reporting.apiUrl') === undefined))
    onb.setIn(raw, 'reporting.apiUrl', process.env.ONBOARD_API_URL || undefined);
  const flags: Array<[string, unknown]> = [
    ['client.slug', opts.slug],
    ['client.name', opts.name],
    ['client.contactEmail', opts.contactEmail],
    ['client.contactPhone', opts.contactPhone],
    ['client.timezone', opts.timezone],
    ['plan.code', opts.plan],
    ['plan.name', opts.planName],
    ['plan.monthlyAmountCents', opts.planPriceCents],
    ['plan.currency', opts.currency],
    ['subscription.monthlyAmountCents', opts.subscriptionPriceCents],
    ['reporting.apiUrl', opts.apiUrl],
    ['reporting.eventType', opts.eventType],
    ['portalUser.email', opts.portalUser],
    ['wait.timeout', opts.timeout],
    ['wait.sendTestEvent', opts.sendTestEvent],
  ];
  for (const [path, value] of flags) onb.setIn(raw, path, value);
  if (opts.workflow.length) {
    const listed = Array.isArray(raw.automations) ? (raw.automations as unknown[]) : [];
    raw.automations = [
      ...listed,
      ...opts.workflow.map((workflow) => ({ workflow, minutesSavedPerRun: opts.minutesSaved, hourlyValueCents: opts.hourlyValueCents })),
    ];
  }

  const interactive = opts.input && process.stdin.isTTY === true;
  // Without prompts, a wrong or missing value is reported before anything is connected to.
  let spec = interactive ? null : onb.validateSpec(raw, opts.file ?? 'onboarding');

  const cfg = portal.loadGrafanaSyncConfig();
  const n8nCfg = loadConfig(['n8n']);
  const keyring = keyringFromConfig(cfg);
  const grafana = new portal.GrafanaClient({ url: cfg.GRAFANA_URL, auth: cfg.grafanaAuth, timeoutSeconds: cfg.GRAFANA_TIMEOUT });
  const n8n = new N8nClient({
    url: n8nCfg.N8N_URL,
    apiKey: n8nCfg.N8N_API_KEY,
    ownerEmail: n8nCfg.N8N_OWNER_EMAIL,
    ownerPassword: n8nCfg.N8N_OWNER_PASSWORD,
    timeoutSeconds: n8nCfg.N8N_TIMEOUT,
  });

  await withDatabase(async (pool) => {
    if (interactive) {
      const readline = await import('node:readline/promises');
      const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
      try {
        await onb.promptForSpec(raw, { ask: (q) => rl.question(q), say: (l) => process.stderr.write(`${l}\n`), pool, n8n });
      } finally {
        rl.close();
      }
    }
    spec ??= onb.validateSpec(raw, opts.file ?? 'onboarding');
    const result = await onb.onboardClient(spec, {
      pool,
      keyring,
      n8n,
      n8nUrl: n8nCfg.N8N_URL,
      grafana,
      syncSettings: {
        tenantProxyUrl: cfg.TENANT_PROXY_URL,
        dbHost: cfg.GRAFANA_PORTAL_DB_HOST,
        dbName: cfg.GRAFANA_PORTAL_DB_NAME,
        dbSslmode: cfg.GRAFANA_PORTAL_DB_SSLMODE,
        churnedOrgs: cfg.GRAFANA_CHURNED_ORGS,
      },
      dashboards: () => portal.loadClientDashboards(),
      actor: cliActor(),
      progress: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(onb.formatOnboardSummary(result));
    if (!result.ok) throw new UserError(`onboarding of ${result.slug} stopped at "${result.failure?.step}" (see above)`);
  });
}

export function registerClientCommands(program: Command): void {
  const client = program.command('client').description('clients of the agency');

  client
    .command('onboard')
    .description(
      'onboard a client in one go: the client, its plan and subscription, webhook secret, portal credential, automations, ' +
        'the signed-event reporting workflow in n8n (secret in an n8n credential), its Grafana organisation and first portal user, ' +
        'then wait for its first signed event. From a YAML file and/or flags; asks for what is missing on a terminal. Idempotent: run it again after a failure and it continues; every change audited.',
    )
    .option('-f, --file <client.yml>', 'the client as YAML (docs/onboarding.md); flags override its values')
    .option('--slug <slug>', "the client's slug")
    .option('--name <name>', "the client's name")
    .option('--contact-email <email>', "the client's contact email")
    .option('--contact-phone <phone>', "the client's contact phone")
    .option('--timezone <tz>', "the client's IANA time zone (default UTC)")
    .option('--plan <code>', 'the plan to subscribe the client to (created when missing, with --plan-name and --plan-price-cents)')
    .option('--plan-name <name>', 'the name of a new plan')
    .option('--plan-price-cents <n>', 'the monthly price of a new plan, in cents', numeric)
    .option('--currency <code>', 'the currency of a new plan (default USD)')
    .option('--subscription-price-cents <n>', "the client's monthly price, when not the plan's", numeric)
    .option('--workflow <id-or-name>', "an n8n workflow of the client's to map (repeatable)", collect, [])
    .option('--minutes-saved <n>', 'minutes each run of the --workflow workflows saves (default 0)', numeric)
    .option('--hourly-value-cents <n>', 'what an hour of that work is worth, in cents (default 0)', numeric)
    .option('--api-url <url>', "the platform API's URL as n8n reaches it (default ONBOARD_API_URL)")
    .option('--event-type <type>', 'the event type the reporting workflow sends (default lead.captured)')
    .option('--portal-user <email>', "the email of the client's first portal user")
    .option('--timeout <duration>', "how long to wait for the client's first signed event, e.g. 10m; 0 = do not wait (default 10m)")
    .option('--send-test-event', 'post one test event to the reporting workflow, so the wait ends by itself')
    .option('--no-input', 'never ask: fail naming what is missing')
    .action(onboard);

  const portalUser = client.command('portal-user').description("a client's users of its Grafana organisation (Viewers)");
  portalUser
    .command('add')
    .description("create a Viewer of the client's organisation; its one-time password is printed once")
    .argument('<client>', "the client's slug")
    .argument('<email>', 'the login and email of the user')
    .action(async (slug: string, email: string) => {
      const { portal, grafana: g } = await grafanaFromEnv();
      await withDatabase(async (pool) => {
        const added = await portal.addPortalUser({ pool, grafana: g, actor: cliActor(), clientSlug: slug, email });
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
        const r = await portal.removePortalUser({ pool, grafana: g, actor: cliActor(), clientSlug: slug, email });
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
        const users = await portal.listPortalUsers({ pool, grafana: g, actor: cliActor(), clientSlug: slug });
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
