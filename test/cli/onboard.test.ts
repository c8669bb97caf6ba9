import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { clientRoleName, GrafanaClient, loadClientDashboards, orgNameOf } from '@ct/client-portal';
import type { N8nWorkflow, Pool, SecretKeyring } from '@ct/lib';
import {
  formatOnboardSummary,
  onboardClient,
  promptForSpec,
  readSpecFile,
  reportCredentialName,
  reportWorkflowName,
  validateSpec,
  type OnboardDeps,
  type OnboardResult,
  type RawSpec,
} from '../../cli/src/onboard';
import { n8nFromBench, startTestApi, type TestApi } from '../api/harness';
import { COMPOSE_SYNC_SETTINGS as SETTINGS, GrafanaContractFake } from '../client-portal/grafana-contract';
import { runCt } from '../helpers/cli';
import { benchEnv } from '../helpers/db';

/**
 * `ct client onboard` against the real services: the platform database and API (startTestApi),
 * the bench's real n8n (the reporting workflow is imported and run there, and its signed event
 * goes through the real API), and Grafana's contract fake (every request checked against
 * Grafana's OpenAPI document).
 */

const KEYRING: SecretKeyring = { currentId: 'onboard', keys: { onboard: 'onboard-test-secrets-key-0123456789abcdef' } };
const TAG = randomBytes(3).toString('hex');
const SLUG = `onb-pizza-${TAG}`;
const n8n = n8nFromBench();
const n8nUrl = benchEnv('N8N_URL');

let api: TestApi;
let fake: GrafanaContractFake;
let dir: string;
const workflows: N8nWorkflow[] = [];
const slugs: string[] = [];

/** What the command connects with: DATABASE_URL, the application role where the bench has one. */
function appPool(): Pool {
  return (api.db as { appPool?: Pool }).appPool ?? api.pool;
}

function deps(extra: Partial<OnboardDeps> = {}): OnboardDeps {
  return {
    pool: appPool(),
    keyring: KEYRING,
    n8n,
    n8nUrl,
    grafana: new GrafanaClient({
      url: fake.url,
      auth: { kind: 'basic', user: fake.adminLogin, password: fake.adminPassword },
      timeoutSeconds: 5,
    }),
    syncSettings: SETTINGS,
    dashboards: () => loadClientDashboards(),
    actor: 'cli:onboard-test',
    pollIntervalMs: 250,
    ...extra,
  };
}

/** A minimal client workflow in n8n, to be mapped as an automation. */
async function clientWorkflow(name: string): Promise<N8nWorkflow> {
  const wf = await n8n.createWorkflow({
    name,
    nodes: [
      {
        id: randomBytes(8).toString('hex'),
        name: 'Start',
        type: 'n8n-nodes-base.manualTrigger',
        typeVersion: 1,
        position: [0, 0],
        parameters: {},
      },
    ],
    connections: {},
    settings: { executionOrder: 'v1' },
  });
  workflows.push(wf);
  return wf;
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return Number((await api.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM (${sql}) x`, params)).rows[0]!.n);
}

async function auditActions(
  after: string,
): Promise<Array<{ action: string; outcome: string; client_id: string | null; details: Record<string, unknown> }>> {
  const { rows } = await api.pool.query(
    `SELECT action, outcome, client_id::text, details FROM audit_logs WHERE id > $1 AND actor = 'cli:onboard-test' ORDER BY id`,
    [after],
  );
  return rows;
}

async function auditMark(): Promise<string> {
  return (await api.pool.query<{ m: string }>('SELECT coalesce(max(id), 0)::text AS m FROM audit_logs')).rows[0]!.m;
}

function statuses(r: OnboardResult): Record<string, string> {
  return Object.fromEntries(r.steps.map((s) => [s.step, s.status]));
}

/** Everything onboarding may create for the client, counted. */
async function footprint(slug: string) {
  const c = 'SELECT id FROM clients WHERE slug = $1';
  const inN8n = await n8n.listWorkflows();
  const creds = await n8n.listCredentials();
  return {
    clients: await count(c, [slug]),
    plans: await count(`SELECT 1 FROM plans WHERE code = $1`, [`onb-${TAG}`]),
    subscriptions: await count(`SELECT 1 FROM subscriptions WHERE client_id = (${c})`, [slug]),
    automations: await count(`SELECT 1 FROM automations WHERE client_id = (${c})`, [slug]),
    secrets: await count(`SELECT kind FROM client_secrets WHERE client_id = (${c})`, [slug]),
    events: await count(`SELECT 1 FROM activity_events WHERE client_id = (${c})`, [slug]),
    n8nWorkflows: inN8n.filter((w) => w.name === reportWorkflowName(slug)).length,
    n8nCredentials: creds.filter((x) => x.name === reportCredentialName(slug)).length,
    grafanaOrgs: [...fake.state.orgs.values()].filter((o) => o.name.startsWith('CT — ')).length,
    grafanaUsers: fake.state.users.size,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-onboard-'));
  api = await startTestApi({ keyring: KEYRING });
  fake = await GrafanaContractFake.start();
}, 120_000);

afterAll(async () => {
  for (const w of await n8n.listWorkflows().catch(() => [] as N8nWorkflow[]))
    if (workflows.some((x) => x.id === w.id) || slugs.some((s) => w.name === reportWorkflowName(s)))
      await n8n.deleteWorkflow(w.id).catch(() => undefined);
  await fake?.close();
  await api?.close();
  // Client database roles are cluster-wide: drop the ones the portal credential step made.
  const admin = new Client({ connectionString: benchEnv('DATABASE_URL') });
  await admin.connect();
  for (const s of slugs) await admin.query(`DROP ROLE IF EXISTS ${clientRoleName(s)}`).catch(() => undefined);
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

afterEach(() => {
  // Not one request Grafana's API document does not describe.
  expect(fake.violations()).toEqual([]);
});

describe('a client onboarded from a YAML file', () => {
  let file: string;
  let firstSecret = '';
  let mark = '';

  beforeAll(async () => {
    const leads = await clientWorkflow(`Onboard ${TAG} lead capture`);
    const invoices = await clientWorkflow(`Onboard ${TAG} invoices`);
    slugs.push(SLUG);
    file = path.join(dir, 'client.yml');
    writeFileSync(
      file,
      [
        'client:',
        `  slug: ${SLUG}`,
        '  name: Onboard Pizza',
        '  contactEmail: owner@onboard-pizza.test',
        '  timezone: Europe/Paris',
        'plan:',
        `  code: onb-${TAG}`,
        '  name: Onboarding starter',
        '  monthlyAmountCents: 4900',
        '  currency: EUR',
        'automations:',
        `  - workflow: ${leads.name}`,
        '    minutesSavedPerRun: 5',
        '    hourlyValueCents: 3000',
        `  - workflow: "${invoices.id}"`,
        'reporting:',
        `  apiUrl: ${api.url}`,
        '  eventType: lead.captured',
        'portalUser:',
        `  email: viewer-${TAG}@onboard-pizza.test`,
        'wait:',
        '  timeout: 20s',
        '  sendTestEvent: true',
        '',
      ].join('\n'),
    );
  });

  it('stops at the Grafana org sync when Grafana is down, having created and audited what came before', async () => {
    mark = await auditMark();
    await fake.close(); // the failure: Grafana unreachable during the first run
    const r = await onboardClient(validateSpec(readSpecFile(file), file), deps());
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ step: 'grafana org' });
    expect(statuses(r)).toEqual({
      client: 'created',
      plan: 'created',
      subscription: 'created',
      'portal credential': 'created',
      automations: 'created',
      'n8n credential': 'created',
      'reporting workflow': 'created',
      'grafana org': 'failed',
    });
    // The webhook secret is shown once, in this run's summary, even though the run failed.
    expect(r.secrets).toHaveLength(1);
    firstSecret = r.secrets[0]!.value;
    expect(firstSecret).toMatch(/^whsec_/);
    const summary = formatOnboardSummary(r);
    expect(summary).toContain(firstSecret);
    expect(summary).toContain('run the same command again');

    const actions = await auditActions(mark);
    expect(actions.map((a) => a.action)).toEqual([
      'client.create',
      'plan.create',
      'subscription.create',
      'client.portal_token.issue',
      'automation.create',
      'automation.create',
      'n8n.credential.create',
      'n8n.workflow.import',
      'n8n.workflow.activate',
      'client.onboard',
    ]);
    expect(actions.at(-1)).toMatchObject({ outcome: 'failure', details: { failed_step: 'grafana org' } });
    const clientId = actions[0]!.client_id;
    expect(actions.filter((a) => a.action !== 'plan.create').every((a) => a.client_id === clientId)).toBe(true);
    // No audit row carries a secret.
    expect(JSON.stringify(actions)).not.toContain(firstSecret.slice(6));
  }, 120_000);

  it('run again, continues where it stopped, creates nothing twice, and ends with the first signed event through n8n', async () => {
    await fake.listen(); // Grafana is back (same state, new address)
    const before = await footprint(SLUG);
    expect(before).toMatchObject({
      clients: 1,
      plans: 1,
      subscriptions: 1,
      automations: 2,
      secrets: 2,
      events: 0,
      n8nWorkflows: 1,
      n8nCredentials: 1,
    });
    mark = await auditMark();
    const r = await onboardClient(validateSpec(readSpecFile(file), file), deps());
    expect(r.failure).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(statuses(r)).toEqual({
      client: 'exists',
      'webhook secret': 'exists',
      plan: 'exists',
      subscription: 'exists',
      'portal credential': 'exists',
      automations: 'exists',
      'n8n credential': 'exists',
      'reporting workflow': 'exists',
      'grafana org': 'created',
      'portal user': 'created',
      'first event': 'created',
    });
    // Only this run's one-time secret is shown; the earlier one is not, and the summary says so and how to rotate.
    expect(r.secrets.map((s) => s.label)).toEqual([expect.stringContaining(`viewer-${TAG}@onboard-pizza.test`)]);
    const summary = formatOnboardSummary(r);
    expect(summary).not.toContain(firstSecret);
    expect(summary).toMatch(
      /webhook secret of .* cannot be shown again; to replace it, rotate it \(POST \/api\/admin\/clients\/.*\/rotate-secret\)/,
    );

    const after = await footprint(SLUG);
    expect(after).toEqual({ ...before, events: 1, grafanaOrgs: before.grafanaOrgs + 1, grafanaUsers: before.grafanaUsers + 1 });

    // The first event: signed in n8n with the secret from the credential, verified and stored by the API.
    const { rows } = await api.pool.query(
      `SELECT e.kind, e.details, e.source FROM activity_events e JOIN clients c ON c.id = e.client_id WHERE c.slug = $1`,
      [SLUG],
    );
    expect(rows).toEqual([{ kind: 'lead.captured', details: { test: true, source: 'ct client onboard' }, source: 'webhook' }]);
    // The workflow n8n holds and exports carries the credential's reference, never the secret.
    const wf = (await n8n.listWorkflows()).find((w) => w.name === reportWorkflowName(SLUG))!;
    const exported = JSON.stringify(await n8n.getWorkflow(wf.id));
    expect(exported).toContain(reportCredentialName(SLUG));
    expect(exported).not.toContain(firstSecret.slice(6));
    expect(exported).toContain(`const CT_URL = \\"${api.url}\\";`);
    expect(exported).toContain(`const CLIENT = \\"${SLUG}\\";`);

    // The Grafana side: the org, a Viewer that signs in with the password shown once.
    const org = fake.orgByName(orgNameOf('Onboard Pizza'))!;
    expect(org).toBeDefined();
    const viewer = fake.userByLogin(`viewer-${TAG}@onboard-pizza.test`)!;
    expect(fake.authenticate(viewer.login, r.secrets[0]!.value)).not.toBeNull();
    expect(fake.orgMembers(org.id).find((m) => m.user.id === viewer.id)?.role).toBe('Viewer');

    // This run's changes: the org sync's (Grafana, and the client's database role) and the portal user, then the run.
    const actions = (await auditActions(mark)).map((a) => a.action);
    expect(actions.filter((a) => !a.startsWith('grafana.') && !a.startsWith('client.portal_role.'))).toEqual(['client.onboard']);
    expect(actions).toContain('grafana.org.create');
    expect(actions).toContain('grafana.portal_user.add');
    expect(actions.at(-1)).toBe('client.onboard');
    const last = (await auditActions(mark)).at(-1)!;
    expect(last).toMatchObject({ outcome: 'success' });
  }, 180_000);

  it('a third run finds everything in place and changes nothing', async () => {
    const before = await footprint(SLUG);
    mark = await auditMark();
    fake.clearRequests();
    const r = await onboardClient(validateSpec(readSpecFile(file), file), deps());
    expect(r.ok).toBe(true);
    expect(new Set(Object.values(statuses(r)))).toEqual(new Set(['exists']));
    expect(r.secrets).toEqual([]);
    expect(formatOnboardSummary(r)).toMatch(/password was shown when it was created and cannot be shown again/);
    expect(await footprint(SLUG)).toEqual(before);
    expect(fake.writes().filter((w) => !/^\/user\/using\//.test(w.path))).toEqual([]);
    expect((await auditActions(mark)).map((a) => a.action)).toEqual(['client.onboard']);
  }, 120_000);
});

describe('the wait for the first event', () => {
  it('times out with what to check', async () => {
    const slug = `onb-quiet-${TAG}`;
    slugs.push(slug);
    const spec = validateSpec({
      client: { slug, name: 'Quiet Plumbing' },
      plan: { code: `onb-${TAG}` },
      reporting: { apiUrl: api.url },
      portalUser: { email: `quiet-${TAG}@plumbing.test` },
      wait: { timeout: '2s' },
    });
    const started = Date.now();
    const r = await onboardClient(spec, deps());
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(r.ok).toBe(false);
    expect(r.failure?.step).toBe('first event');
    const msg = r.failure!.message;
    expect(msg).toContain(`no signed event from ${slug} arrived within 2s`);
    expect(msg).toContain('n8n has no execution of the workflow: nothing triggered it yet');
    expect(msg).toContain(`"${reportWorkflowName(slug)}" is active in n8n`);
    expect(msg).toContain(`credential "${reportCredentialName(slug)}"`);
    expect(msg).toContain(`${api.url}/api/webhooks/n8n/${slug} is reachable from n8n`);
    expect(msg).toContain("n8n's clock is within 5 minutes");
    expect(statuses(r).automations).toBe('skipped');
    // Both secrets of this run are in its summary, shown once.
    expect(r.secrets.map((s) => s.label)).toEqual([expect.stringContaining('webhook secret'), expect.stringContaining('Grafana password')]);
  }, 120_000);
});

describe('an automation naming a workflow n8n does not have', () => {
  it('stops at the automations step, listing the workflows no client has yet to choose from', async () => {
    const free = await clientWorkflow(`Onboard ${TAG} unmapped quote`);
    const slug = `onb-typo-${TAG}`;
    slugs.push(slug);
    const r = await onboardClient(
      validateSpec({
        client: { slug, name: 'Typo Roofing' },
        plan: { code: `onb-${TAG}` },
        automations: [{ workflow: 'Lead captuer' }],
        reporting: { apiUrl: api.url },
        portalUser: { email: `typo-${TAG}@roofing.test` },
      }),
      deps(),
    );
    expect(r.failure?.step).toBe('automations');
    expect(r.failure?.message).toContain('automations.0.workflow: n8n has no workflow with id or name "Lead captuer"');
    expect(r.failure?.message).toContain(`"${free.name}" (${free.id})`);
    expect(r.failure?.message).not.toContain(`Onboard ${TAG} lead capture`); // mapped to a client already
  }, 60_000);
});

describe('bad input', () => {
  function problems(raw: RawSpec): string {
    try {
      validateSpec(raw, 'client.yml');
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('accepted');
  }
  const good: RawSpec = {
    client: { slug: 'ok-client', name: 'Ok' },
    plan: { code: 'starter' },
    reporting: { apiUrl: 'https://ct.example.com' },
    portalUser: { email: 'a@b.test' },
  };

  it('names each wrong field', () => {
    expect(() => validateSpec(good)).not.toThrow();
    expect(problems({ ...good, client: { slug: 'Pizza Shop', name: 'Ok' } })).toMatch(/client\.yml: client\.slug: /);
    expect(problems({ ...good, plan: { code: 'starter', monthlyAmountCents: 'lots' } })).toMatch(/client\.yml: plan\.monthlyAmountCents: /);
    expect(problems({ ...good, automations: [{ workflow: '' }] })).toMatch(/automations\.0\.workflow: must name an n8n workflow/);
    expect(problems({ ...good, reporting: { apiUrl: 'ftp://x' } })).toMatch(/reporting\.apiUrl: must be an http\(s\) URL/);
    expect(problems({ ...good, wait: { timeout: 'soon' } })).toMatch(/wait\.timeout: must be a duration/);
    expect(problems({ ...good, clinet: {} })).toMatch(/clinet/);
    const { portalUser: _omit, ...noUser } = good;
    expect(problems(noUser)).toMatch(/client\.yml: portalUser: /);
  });

  it('ct client onboard --file names the field of a bad file and connects to nothing', async () => {
    const bad = path.join(dir, 'bad.yml');
    writeFileSync(
      bad,
      `client:\n  slug: ok-client\n  name: Ok\nplan:\n  code: starter\n  monthlyAmountCents: lots\nreporting:\n  apiUrl: https://ct.example.com\nportalUser:\n  email: a@b.test\n`,
    );
    // No database, n8n or Grafana settings: the file is refused before any of them is needed.
    const env = { PATH: process.env.PATH, HOME: process.env.HOME };
    const res = await runCt(['client', 'onboard', '--file', bad, '--no-input'], { env });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${bad}: plan.monthlyAmountCents:`);
    // A flag overrides the file's value: the file now passes, and the command goes on to its settings.
    const fixed = await runCt(['client', 'onboard', '--file', bad, '--plan-price-cents', '4900', '--no-input'], { env });
    expect(fixed.code).not.toBe(0);
    expect(fixed.stderr).not.toContain('plan.monthlyAmountCents');
    expect(fixed.stderr).toMatch(/DATABASE_URL|GRAFANA_URL|SECRETS_KEY/);
    const broken = path.join(dir, 'broken.yml');
    writeFileSync(broken, 'client:\n  slug: [unclosed\n');
    const res2 = await runCt(['client', 'onboard', '--file', broken, '--no-input'], { env });
    expect(res2.code).toBe(1);
    expect(res2.stderr).toMatch(/is not valid YAML: .*line/);
  }, 60_000);
});

describe('interactive mode', () => {
  it('asks for what is missing, again when an answer is wrong, and lists the unmapped workflows to choose from', async () => {
    const free = await clientWorkflow(`Onboard ${TAG} unmapped booking`);
    const said: string[] = [];
    const questions: string[] = [];
    const answers: Record<string, string[]> = {
      'Client slug': ['Not A Slug', `onb-asked-${TAG}`],
      "Client's name": ['Asked HVAC'],
      "Client's contact email": [''],
      "Client's time zone": [''],
      'Plan code': ['onb-new-' + TAG],
      'Name of the new plan': ['Asked plan'],
      'Its monthly price': ['a lot', '2500'],
      'Its currency': [''],
      'Minutes of work each run saves': ['7'],
      'What an hour of that work is worth': ['4000'],
      "The platform API's URL": ['https://ct.example.com'],
      'Email of the client': [`asked-${TAG}@hvac.test`],
      'Send a test event': ['maybe', 'n'],
    };
    const ask = async (q: string) => {
      questions.push(q);
      if (q.startsWith("The client's workflows")) {
        // The number the list gave our workflow (the bench's n8n holds other workflows too).
        const line = said.find((l) => l.includes(`(${free.id})`))!;
        return /^\s*(\d+)\./.exec(line)![1]!;
      }
      const key = Object.keys(answers).find((k) => q.startsWith(k));
      if (!key) throw new Error(`unexpected question: ${q}`);
      const next = answers[key]!.shift();
      if (next === undefined) throw new Error(`asked too often: ${q}`);
      return next;
    };
    const raw = await promptForSpec({}, { ask, say: (l) => said.push(l), pool: appPool(), n8n });
    const spec = validateSpec(raw);
    expect(spec).toMatchObject({
      client: { slug: `onb-asked-${TAG}`, name: 'Asked HVAC', timezone: 'UTC' },
      plan: { code: `onb-new-${TAG}`, name: 'Asked plan', monthlyAmountCents: 2500, currency: 'USD' },
      automations: [{ workflow: free.id, minutesSavedPerRun: 7, hourlyValueCents: 4000 }],
      reporting: { apiUrl: 'https://ct.example.com', eventType: 'lead.captured' },
      portalUser: { email: `asked-${TAG}@hvac.test` },
      wait: { sendTestEvent: false },
    });
    expect(spec.client.contactEmail).toBeUndefined();
    // Wrong answers were explained and asked again.
    expect(said.some((l) => /^\s+must be/.test(l) || /^\s+Invalid|^\s+expected/i.test(l))).toBe(true);
    expect(said).toContain('  answer y or n');
    expect(questions.filter((q) => q.startsWith('Client slug'))).toHaveLength(2);
    // The existing plan of the file-based client is offered; its workflows, mapped already, are not.
    expect(said.some((l) => l.includes(`onb-${TAG}`))).toBe(true);
    expect(said.some((l) => l.includes(`Onboard ${TAG} lead capture`))).toBe(false);
    // A value given by file or flag is not asked.
    const partial = await promptForSpec(
      {
        client: { slug: 'given', name: 'Given', timezone: 'UTC', contactEmail: 'x@y.test' },
        plan: { code: `onb-${TAG}` },
        automations: [],
        reporting: { apiUrl: 'https://x.test' },
        portalUser: { email: 'p@q.test' },
        wait: { sendTestEvent: false },
      },
      {
        ask: async (q) => {
          throw new Error(`asked ${q}`);
        },
        say: () => undefined,
        pool: appPool(),
        n8n,
      },
    );
    expect(validateSpec(partial).client.slug).toBe('given');
  }, 60_000);
});
