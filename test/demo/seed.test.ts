import { randomBytes } from 'node:crypto';
import { loadValidWebhookSecrets } from '@ct/api';
import { verifyAuditChain, type Pool } from '@ct/lib';
import {
  DEMO_CLIENTS,
  demoDepsFromEnv,
  formatDemoSummary,
  removeDemoWorkflows,
  seedDemo,
  type DemoDeps,
  type DemoSummary,
  type SeedDemoOptions,
} from '../../cli/src/demo';
import { runCt } from '../helpers/cli';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

/**
 * `ct demo seed` against the bench: the platform API it starts in-process, the bench's
 * PostgreSQL and its real n8n (shared with other suites: every seed here has its own tag, so its
 * workflows are its own, and they are removed at the end with their running executions).
 */
jest.setTimeout(120_000);

const DAY = 86_400_000;
const suiteTag = randomBytes(3).toString('hex');
let deps: DemoDeps;
/** This suite's workflows in the shared n8n (other suites add theirs meanwhile). */
const ourWorkflows = async () => (await deps.n8n.listWorkflows()).filter((w) => w.name.includes(`[${suiteTag}`));
const databases: TestDatabase[] = [];
const workflowIds: string[] = [];
const progress: string[] = [];

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase({ prefix: 'demo' });
  databases.push(db);
  return db;
}

async function seed(pool: Pool, o: Partial<SeedDemoOptions> = {}): Promise<DemoSummary> {
  const summary = await seedDemo({ ...deps, pool, stuckSeconds: 90, progress: (l) => progress.push(l), ...o });
  workflowIds.push(...summary.workflows.map((w) => w.id));
  return summary;
}

/** Row counts of everything the seed writes, to show a second run adds nothing. */
async function counts(pool: Pool): Promise<Record<string, number>> {
  const tables = ['clients', 'plans', 'subscriptions', 'invoices', 'automations', 'activity_events', 'audit_logs', 'api_keys'];
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = Number((await pool.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n);
  return out;
}

/** The webhook secrets of every client, decrypted as the API does: none may ever be printed. */
async function webhookSecrets(pool: Pool): Promise<string[]> {
  const keyring = deps.keyring;
  const out: string[] = [];
  for (const { id } of (await pool.query<{ id: string }>('SELECT id FROM clients')).rows) {
    out.push(...(await loadValidWebhookSecrets(pool, keyring, id)).map((s) => s.secret));
  }
  return out;
}

beforeAll(() => {
  const { databaseUrl: _unused, ...rest } = demoDepsFromEnv(process.env);
  deps = rest;
});

afterAll(async () => {
  // The bench's n8n is shared: stop what this suite left running and remove its workflows.
  const tagged = (await deps.n8n.listWorkflows()).filter((w) => w.name.includes(`[${suiteTag}`)).map((w) => String(w.id));
  expect(await removeDemoWorkflows(deps.n8n, [...new Set([...workflowIds, ...tagged])])).toEqual([]);
  await Promise.all(databases.map((d) => d.drop()));
});

describe('seeding an empty database', () => {
  let db: TestDatabase;
  let summary: DemoSummary;
  const tag = `${suiteTag}-a`;

  beforeAll(async () => {
    db = await freshDatabase();
    summary = await seed(db.pool, { tag });
  });

  it('creates the clients with their statuses, plans and subscriptions', async () => {
    expect(summary.outcome).toBe('seeded');
    const clients = await db.pool.query('SELECT slug, name, status, plan FROM clients ORDER BY slug');
    expect(clients.rows).toEqual(
      expect.arrayContaining([
        { slug: 'pizza-co', name: 'Pizza Co', status: 'active', plan: 'growth' },
        { slug: 'joes-plumbing', name: "Joe's Plumbing", status: 'active', plan: 'starter' },
        { slug: 'mikes-hvac', name: "Mike's HVAC", status: 'active', plan: 'pro' },
        { slug: 'corner-bakery', name: 'Corner Bakery', status: 'active', plan: 'starter' },
        { slug: 'bright-smile-dental', name: 'Bright Smile Dental', status: 'paused', plan: 'growth' },
        { slug: 'green-leaf-landscaping', name: 'Green Leaf Landscaping', status: 'churned', plan: 'starter' },
      ]),
    );
    expect(clients.rows).toHaveLength(6);
    const plans = await db.pool.query('SELECT code, monthly_amount_cents::int AS cents FROM plans ORDER BY cents');
    expect(plans.rows).toEqual([
      { code: 'starter', cents: 14_900 },
      { code: 'growth', cents: 34_900 },
      { code: 'pro', cents: 69_900 },
    ]);
    const subs = await db.pool.query(
      `SELECT c.slug, c.status, s.canceled_at, extract(epoch FROM now() - s.started_at) / 86400 AS age_days
         FROM subscriptions s JOIN clients c ON c.id = s.client_id`,
    );
    expect(subs.rows).toHaveLength(6);
    for (const s of subs.rows) {
      // One subscription per client; only the churned client's is canceled.
      expect(s.canceled_at === null).toBe(s.status !== 'churned');
      expect(Number(s.age_days)).toBeGreaterThan(70);
    }
    const mrr = await db.pool.query('SELECT sum(monthly_amount_cents)::int AS cents FROM subscriptions WHERE canceled_at IS NULL');
    expect(mrr.rows[0].cents).toBe(34_900 + 14_900 + 69_900 + 14_900 + 34_900);
  });

  it('creates paid invoices, open ones not yet due, and one overdue at the churn-risk client', async () => {
    const { rows } = await db.pool.query(
      `SELECT c.slug, i.status, i.due_at < now() AS past_due, i.paid_at <= now() AS paid_in_past, i.issued_at < now() - interval '1 day' AS issued_before
         FROM invoices i JOIN clients c ON c.id = i.client_id`,
    );
    const overdue = rows.filter((r) => r.status === 'open' && r.past_due);
    expect(overdue.map((r) => r.slug)).toEqual(['corner-bakery']);
    expect(rows.filter((r) => r.status === 'open' && !r.past_due)).toHaveLength(3);
    const paid = rows.filter((r) => r.status === 'paid');
    expect(paid).toHaveLength(12);
    expect(paid.every((r) => r.paid_in_past && r.issued_before)).toBe(true);
    expect(summary.invoices).toEqual({ paid: 12, open: 3, overdue: 1 });
    // The churn-risk rule of the billing collector: an open invoice past its due date.
    const risk = await db.pool.query(
      `SELECT DISTINCT c.slug FROM clients c JOIN invoices i ON i.client_id = c.id
        WHERE c.status <> 'churned' AND i.status = 'open' AND i.due_at < now()`,
    );
    expect(risk.rows).toEqual([{ slug: 'corner-bakery' }]);
  });

  it('maps automations to workflows that exist and are active in n8n, under unique names', async () => {
    const { rows } = await db.pool.query(
      `SELECT c.slug, a.n8n_workflow_id, a.name, a.minutes_saved_per_run::float AS minutes, a.hourly_value_cents
         FROM automations a JOIN clients c ON c.id = a.client_id ORDER BY a.name`,
    );
    expect(rows).toHaveLength(8);
    expect(new Set(rows.map((r) => r.slug))).toEqual(new Set(['pizza-co', 'joes-plumbing', 'mikes-hvac', 'corner-bakery']));
    const all = await deps.n8n.listWorkflows();
    for (const a of rows) {
      const wf = await deps.n8n.getWorkflow(a.n8n_workflow_id);
      expect(wf.name).toBe(a.name);
      expect(wf.active).toBe(true);
      expect(wf.nodes?.[0]?.type).toBe('n8n-nodes-base.webhook');
      expect(all.filter((w) => w.name === wf.name)).toHaveLength(1);
      expect(a.minutes).toBeGreaterThan(0);
      expect(a.hourly_value_cents).toBeGreaterThan(0);
    }
    expect(rows.map((r) => r.name)).toContain(`Pizza Co · Invoice automation [${tag}]`);
  });

  it('has n8n executions that succeeded, failed, and one still running', async () => {
    const statuses: Record<string, number> = {};
    const running: string[] = [];
    for (const w of summary.workflows) {
      for (const e of await deps.n8n.listExecutions({ workflowId: w.id })) statuses[e.status] = (statuses[e.status] ?? 0) + 1;
      running.push(...(await deps.n8n.listExecutions({ workflowId: w.id, status: 'running' })).map((e) => String(e.id)));
    }
    expect(statuses).toEqual({ success: 18, error: 4 });
    expect(running).toHaveLength(1);
    expect(summary.executions.running).toEqual(running);
    const stuck = await deps.n8n.getExecution(running[0]!);
    expect(stuck.status).toBe('running');
    expect(stuck.stoppedAt).toBeNull();
    const stuckWorkflow = summary.workflows.find((w) => w.id === String(stuck.workflowId));
    expect(stuckWorkflow?.name).toBe(`Mike's HVAC · Parts order sync [${tag}]`);
    expect(Date.parse(summary.stuckUntil!)).toBeGreaterThan(Date.now());
    // The failures are executions of webhook-triggered workflows of the clients they belong to.
    const failed = await Promise.all(summary.executions.error.map((id) => deps.n8n.getExecution(id)));
    expect(new Set(failed.map((e) => summary.workflows.find((w) => w.id === String(e.workflowId))?.client))).toEqual(
      new Set(['pizza-co', 'joes-plumbing', 'corner-bakery']),
    );
  });

  it('stores a few hundred signed events over 30 days, in a business-like pattern, with a summary each', async () => {
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n, min(occurred_at) AS oldest, max(occurred_at) AS newest,
              count(*) FILTER (WHERE source = 'webhook')::int AS webhook,
              count(*) FILTER (WHERE coalesce(details->>'summary', '') = '')::int AS without_summary,
              count(DISTINCT kind)::int AS kinds
         FROM activity_events`,
    );
    const r = rows[0];
    expect(r.n).toBeGreaterThanOrEqual(200);
    expect(r.n).toBeLessThanOrEqual(500);
    expect(r.webhook).toBe(r.n);
    expect(r.without_summary).toBe(0);
    expect(r.kinds).toBeGreaterThanOrEqual(4);
    expect(Date.now() - r.oldest.getTime()).toBeGreaterThan(27 * DAY);
    expect(Date.now() - r.oldest.getTime()).toBeLessThanOrEqual(30 * DAY);
    expect(r.newest.getTime()).toBeLessThanOrEqual(Date.now());
    expect(summary.events.stored).toBe(r.n);

    const per = await db.pool.query(
      `SELECT c.slug, count(*)::int AS n, max(e.occurred_at) AS newest,
              count(*) FILTER (WHERE extract(isodow FROM e.occurred_at AT TIME ZONE c.timezone) IN (5, 6))::float / 2 AS per_fri_sat,
              count(*) FILTER (WHERE extract(isodow FROM e.occurred_at AT TIME ZONE c.timezone) IN (1, 2))::float / 2 AS per_mon_tue,
              count(*) FILTER (WHERE extract(hour FROM e.occurred_at AT TIME ZONE c.timezone) BETWEEN 11 AND 21)::int AS meal_hours
         FROM activity_events e JOIN clients c ON c.id = e.client_id GROUP BY c.slug`,
    );
    const by = Object.fromEntries(per.rows.map((x) => [x.slug, x]));
    expect(Object.keys(by).sort()).toEqual(DEMO_CLIENTS.map((c) => c.slug).sort());
    // The pizza shop: busier on Fridays and Saturdays, mostly at lunch and dinner, in its own time zone.
    expect(by['pizza-co'].per_fri_sat).toBeGreaterThan(by['pizza-co'].per_mon_tue);
    expect(by['pizza-co'].meal_hours / by['pizza-co'].n).toBeGreaterThan(0.8);
    // The churn-risk client has been silent for more than two weeks; the churned one faded out before churning.
    expect(Date.now() - by['corner-bakery'].newest.getTime()).toBeGreaterThan(14 * DAY);
    expect(Date.now() - by['green-leaf-landscaping'].newest.getTime()).toBeGreaterThan(9 * DAY);
  });

  it('went through the API: every change has its audit row, the chain holds, and the key is revoked', async () => {
    const { rows } = await db.pool.query<{ action: string; actor: string; n: number }>(
      'SELECT action, actor, count(*)::int AS n FROM audit_logs GROUP BY 1, 2 ORDER BY 1',
    );
    const n = (action: string) => rows.filter((r) => r.action === action).reduce((s, r) => s + r.n, 0);
    expect(n('plan.create')).toBe(3);
    expect(n('client.create')).toBe(6);
    expect(n('subscription.create')).toBe(6);
    expect(n('subscription.backdate')).toBe(6);
    expect(n('invoice.create')).toBe(16);
    expect(n('invoice.pay')).toBe(12);
    expect(n('automation.create')).toBe(8);
    expect(n('client.pause')).toBe(1);
    expect(n('client.churn')).toBe(1);
    expect(n('subscription.cancel')).toBe(1);
    expect(n('api_key.create')).toBe(1);
    expect(n('api_key.revoke')).toBe(1);
    // The API's rows name the seed's key as their actor.
    for (const r of rows.filter((x) => x.action.startsWith('client.') || x.action.startsWith('invoice.'))) {
      expect(r.actor).toMatch(/^api_key:demo-seed-[0-9a-f]{8} \(/);
    }
    expect((await verifyAuditChain(db.pool)).ok).toBe(true);
    const keys = await db.pool.query('SELECT name, revoked_at FROM api_keys');
    expect(keys.rows).toEqual([{ name: expect.stringMatching(/^demo-seed-/), revoked_at: expect.any(Date) }]);
  });

  it('prints a short summary with nothing secret in it', async () => {
    const text = formatDemoSummary(summary);
    expect(text).toMatch(/^demo data loaded: 6 clients, \d+ events, 23 n8n executions/);
    expect(text).toMatch(/12 paid, 3 open not yet due, 1 overdue/);
    expect(text).toMatch(/18 success, 4 error, 1 running \(stuck until /);
    const printed = [text, JSON.stringify(summary), ...progress].join('\n');
    const secrets = await webhookSecrets(db.pool);
    expect(secrets).toHaveLength(6);
    for (const s of secrets) expect(printed).not.toContain(s);
    const { rows } = await db.pool.query<{ prefix: string }>('SELECT prefix FROM api_keys');
    expect(printed).not.toContain(rows[0]!.prefix);
  });

  it('a second run duplicates nothing, and --if-empty leaves a database with clients alone', async () => {
    const before = await counts(db.pool);
    const workflowsBefore = (await ourWorkflows()).length;
    const again = await seed(db.pool, { tag });
    expect(again.outcome).toBe('present');
    expect(again.message).toBe('the demo data is already present (6 demo clients): nothing created');
    expect(formatDemoSummary(again)).toBe(`${again.message}\n`);
    const skipped = await seed(db.pool, { tag, ifEmpty: true });
    expect(skipped).toMatchObject({ outcome: 'skipped', message: 'demo data not loaded: the database already has 6 clients' });
    expect(await counts(db.pool)).toEqual(before);
    expect((await ourWorkflows()).length).toBe(workflowsBefore);
  });
});

describe('a database with other clients', () => {
  it('is refused without --force, saying how many and how; with --force, only the missing demo clients are added', async () => {
    // The same tag as the first database: its workflows are in n8n already, and are reused, not duplicated.
    const tag = `${suiteTag}-a`;
    const db = await freshDatabase();
    await db.pool.query(`INSERT INTO clients (slug, name) VALUES ('acme-roofing', 'Acme Roofing'), ('pizza-co', 'Pizza Co')`);
    const before = await counts(db.pool);
    await expect(seed(db.pool, { tag })).rejects.toThrow(
      'the database has 1 client that is not demo data (acme-roofing): the demo data set is meant for an empty database; ' +
        'run `ct demo seed --force` to add it beside them',
    );
    expect(await counts(db.pool)).toEqual(before);

    const workflowsBefore = (await ourWorkflows()).length;
    const forced = await seed(db.pool, { tag, force: true, stuckSeconds: 30 });
    expect(forced.outcome).toBe('seeded');
    expect(forced.presentClients).toEqual(['pizza-co']);
    expect(forced.createdClients.map((c) => c.slug)).toEqual(DEMO_CLIENTS.map((c) => c.slug).filter((s) => s !== 'pizza-co'));
    const { rows } = await db.pool.query('SELECT slug, status FROM clients ORDER BY slug');
    expect(rows).toHaveLength(7);
    expect(rows).toEqual(expect.arrayContaining([{ slug: 'acme-roofing', status: 'active' }]));
    // pizza-co was there: it was left as it was (no subscription, invoices or workflows added to it).
    const pizza = await db.pool.query(
      `SELECT (SELECT count(*) FROM subscriptions s WHERE s.client_id = c.id)::int AS subs,
              (SELECT count(*) FROM automations a WHERE a.client_id = c.id)::int AS automations
         FROM clients c WHERE slug = 'pizza-co'`,
    );
    expect(pizza.rows[0]).toEqual({ subs: 0, automations: 0 });
    expect(forced.workflows.map((w) => w.client)).not.toContain('pizza-co');
    expect(forced.workflows).toHaveLength(5);
    expect(forced.workflows.every((w) => w.reused)).toBe(true);
    expect((await ourWorkflows()).length).toBe(workflowsBefore);
    expect(formatDemoSummary(forced)).toMatch(/5 workflows mapped as 5 automations \(5 already in n8n under that name, updated\)/);
    // Only this run's executions are counted, not the first database's on the same workflows.
    expect(forced.executions.success).toHaveLength(9);
    expect(forced.executions.error).toHaveLength(3);
    expect(forced.executions.running).toHaveLength(1);
  });
});

describe('ct demo seed', () => {
  it('seeds a fresh database through the built binary, then says the data is present; refuses and validates', async () => {
    const db = await freshDatabase();
    const env = { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'warn', LOG_FORMAT: 'json' };
    const tag = `${suiteTag}-c`;
    const first = await runCt(['demo', 'seed', '--stuck-seconds', '30', '--tag', tag], { env, timeoutMs: 90_000 });
    expect(first.stderr).toMatch(/sending 30 days of signed webhook events/);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^demo data loaded: 6 clients, \d+ events, 23 n8n executions/);
    expect(first.stdout).toMatch(
      /clients: +pizza-co \(active\), joes-plumbing \(active\), mikes-hvac \(active\), corner-bakery \(active\)/,
    );
    expect(first.stdout).toMatch(/18 success, 4 error, 1 running/);
    for (const s of await webhookSecrets(db.pool)) expect(first.stdout + first.stderr).not.toContain(s);
    const { rows } = await db.pool.query<{ prefix: string; revoked_at: Date | null }>('SELECT prefix, revoked_at FROM api_keys');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.revoked_at).not.toBeNull();
    expect(first.stdout + first.stderr).not.toContain(rows[0]!.prefix);
    const names = (await deps.n8n.listWorkflows()).filter((w) => w.name.endsWith(`[${tag}]`));
    expect(names).toHaveLength(8);
    workflowIds.push(...names.map((w) => String(w.id)));

    const again = await runCt(['demo', 'seed', '--tag', tag], { env });
    expect(again).toMatchObject({ code: 0, stdout: 'the demo data is already present (6 demo clients): nothing created\n' });
    const ifEmpty = await runCt(['demo', 'seed', '--if-empty'], { env });
    expect(ifEmpty).toMatchObject({ code: 0, stdout: 'demo data not loaded: the database already has 6 clients\n', stderr: '' });

    await db.pool.query(`INSERT INTO clients (slug, name) VALUES ('acme-roofing', 'Acme Roofing')`);
    const refused = await runCt(['demo', 'seed'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'ct: the database has 1 client that is not demo data (acme-roofing): the demo data set is meant for an empty database; ' +
        'run `ct demo seed --force` to add it beside them\n',
    );
    const bad = await runCt(['demo', 'seed', '--force', '--stuck-seconds', '5'], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--stuck-seconds must be a whole number of seconds from 10 to 604800, got 5/);
    const notNumber = await runCt(['demo', 'seed', '--stuck-seconds', 'soon'], { env });
    expect(notNumber.stderr).toMatch(/--stuck-seconds must be a whole number of seconds, got soon/);
  });
});
