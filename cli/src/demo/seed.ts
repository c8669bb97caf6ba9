import { randomBytes } from 'node:crypto';
import { createApiKey, createApp, loadApiConfig, settingsFromConfig, type AppOptions } from '@ct/api';
import {
  createLogger,
  createPool,
  errorMessage,
  keyringFromConfig,
  listen,
  N8nClient,
  UserError,
  withTransaction,
  writeAudit,
  type Logger,
  type N8nWorkflow,
  type Pool,
  type SecretKeyring,
} from '@ct/lib';
import { DemoApi } from './api-client';
import { DEMO_CLIENTS, DEMO_PLANS, DEMO_SLUGS, invoiceNumber, workflowName, type DemoClient } from './data';
import { demoEvents } from './events';
import { executionIds, importWorkflow, triggerRun, waitForRuns, type ImportedWorkflow } from './workflows';

/** How long the stuck execution runs by default: well past the 30-minute stuck alert. */
export const DEFAULT_STUCK_SECONDS = 2 * 3600;
export const MIN_STUCK_SECONDS = 10;
export const MAX_STUCK_SECONDS = 7 * 86400;
const DAY_MS = 86_400_000;

/** What the seed needs besides the database: what `ct serve api` derives from its environment. */
export interface DemoDeps {
  /** The n8n the demo workflows are imported into and executed on (also the in-process API's). */
  n8n: N8nClient;
  /** n8n's base URL: the workflows are executed through its production webhook URLs (/webhook/<path>). */
  n8nUrl: string;
  keyring: SecretKeyring;
  /** The API's settings (rate limits included), as `ct serve api` builds them. */
  apiSettings: AppOptions['settings'];
}

export interface SeedDemoOptions extends DemoDeps {
  /** The platform database, migrated: a pool (left open) or a URL (opened and closed here). */
  pool?: Pool;
  databaseUrl?: string;
  /** Seed even when the database has clients that are not demo clients. */
  force?: boolean;
  /** Do nothing when the database has any client at all (what `npm start` uses). */
  ifEmpty?: boolean;
  /** How long the one stuck execution keeps running, in seconds (default 2 h). */
  stuckSeconds?: number;
  /**
   * Appended to the workflows' names and webhook paths, so that several databases seeded
   * against one n8n (tests) each get their own workflows. Unset in normal use.
   */
  tag?: string;
  /** Who the audit rows of the key and of the direct SQL changes name. */
  actor?: string;
  /** The in-process API's logger (default: warnings and errors to stderr). */
  logger?: Logger;
  /** Progress lines, e.g. to stderr. */
  progress?: (line: string) => void;
}

export interface DemoSummary {
  /** seeded: something was created; present: the demo data was there already; skipped: --if-empty on a database with clients. */
  outcome: 'seeded' | 'present' | 'skipped';
  /** One line saying what happened. */
  message: string;
  /** Demo clients created by this run, and the ones found already there. */
  createdClients: { slug: string; name: string; status: DemoClient['status'] }[];
  presentClients: string[];
  plansCreated: string[];
  subscriptions: { active: number; canceled: number };
  invoices: { paid: number; open: number; overdue: number };
  automations: number;
  workflows: ImportedWorkflow[];
  /** New executions in n8n, by status, as n8n reported them when the seed returned. */
  executions: { success: string[]; error: string[]; running: string[] };
  /** When the stuck execution ends on its own (ISO), if one was started. */
  stuckUntil: string | null;
  events: { stored: number; duplicates: number; oldest: string | null; newest: string | null };
  /** 429 answers of the API that were waited out and retried. */
  rateLimited: number;
  durationSeconds: number;
}

/** The seed's dependencies from the environment, validated as `ct serve api` validates it. */
export function demoDepsFromEnv(env: NodeJS.ProcessEnv = process.env): DemoDeps & { databaseUrl: string } {
  const cfg = loadApiConfig(env);
  return {
    databaseUrl: cfg.DATABASE_URL,
    n8n: new N8nClient({
      url: cfg.N8N_URL,
      apiKey: cfg.N8N_API_KEY,
      ownerEmail: cfg.N8N_OWNER_EMAIL,
      ownerPassword: cfg.N8N_OWNER_PASSWORD,
      timeoutSeconds: cfg.N8N_TIMEOUT,
    }),
    n8nUrl: cfg.N8N_URL,
    keyring: keyringFromConfig(cfg),
    apiSettings: settingsFromConfig(cfg),
  };
}

function emptySummary(outcome: DemoSummary['outcome'], message: string, started: number, present: string[] = []): DemoSummary {
  return {
    outcome,
    message,
    createdClients: [],
    presentClients: present,
    plansCreated: [],
    subscriptions: { active: 0, canceled: 0 },
    invoices: { paid: 0, open: 0, overdue: 0 },
    automations: 0,
    workflows: [],
    executions: { success: [], error: [], running: [] },
    stuckUntil: null,
    events: { stored: 0, duplicates: 0, oldest: null, newest: null },
    rateLimited: 0,
    durationSeconds: (Date.now() - started) / 1000,
  };
}

function validate(o: SeedDemoOptions): { stuckSeconds: number } {
  if (!o.pool === !o.databaseUrl) throw new Error('seedDemo needs either pool or databaseUrl');
  const stuckSeconds = o.stuckSeconds ?? DEFAULT_STUCK_SECONDS;
  if (!Number.isInteger(stuckSeconds) || stuckSeconds < MIN_STUCK_SECONDS || stuckSeconds > MAX_STUCK_SECONDS) {
    throw new UserError(
      `--stuck-seconds must be a whole number of seconds from ${MIN_STUCK_SECONDS} to ${MAX_STUCK_SECONDS}, got ${o.stuckSeconds}`,
    );
  }
  if (o.tag !== undefined && !/^[a-z0-9-]{1,24}$/.test(o.tag))
    throw new UserError(`--tag must be 1-24 characters of a-z, 0-9 and -, got ${o.tag}`);
  return { stuckSeconds };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Loads the demo data set through the platform API (started in-process on 127.0.0.1:0 with a
 * short-lived admin key, revoked at the end) and n8n. Refuses a database that has clients other
 * than the demo ones unless `force`; with `ifEmpty`, does nothing when there is any client; demo
 * clients already there are left as they are and only the missing ones are created.
 */
export async function seedDemo(o: SeedDemoOptions): Promise<DemoSummary> {
  const started = Date.now();
  const { stuckSeconds } = validate(o);
  const pool = o.pool ?? createPool({ url: o.databaseUrl!, max: 4, applicationName: 'ct-demo-seed' });
  try {
    const slugs = (await pool.query<{ slug: string }>('SELECT slug FROM clients ORDER BY slug')).rows.map((r) => r.slug);
    if (o.ifEmpty && slugs.length > 0) {
      return emptySummary('skipped', `demo data not loaded: the database already has ${plural(slugs.length, 'client')}`, started);
    }
    const foreign = slugs.filter((s) => !DEMO_SLUGS.includes(s));
    if (foreign.length > 0 && !o.force) {
      const named = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? ', …' : '');
      throw new UserError(
        `the database has ${plural(foreign.length, 'client')} that ${foreign.length === 1 ? 'is' : 'are'} not demo data (${named}): ` +
          'the demo data set is meant for an empty database; run `ct demo seed --force` to add it beside them',
      );
    }
    const present = DEMO_CLIENTS.filter((c) => slugs.includes(c.slug)).map((c) => c.slug);
    const missing = DEMO_CLIENTS.filter((c) => !slugs.includes(c.slug));
    if (missing.length === 0) {
      return emptySummary(
        'present',
        `the demo data is already present (${plural(present.length, 'demo client')}): nothing created`,
        started,
        present,
      );
    }
    const summary = await seedClients(pool, o, missing, stuckSeconds, started);
    summary.presentClients = present;
    return summary;
  } finally {
    if (!o.pool) await pool.end();
  }
}

interface PlanRow {
  code: string;
  monthlyAmountCents: number;
  currency: string;
}

async function seedClients(
  pool: Pool,
  o: SeedDemoOptions,
  clients: DemoClient[],
  stuckSeconds: number,
  started: number,
): Promise<DemoSummary> {
  const progress = o.progress ?? (() => undefined);
  const actor = o.actor ?? 'ct demo seed';
  const now = new Date();
  const runId = randomBytes(4).toString('hex');
  const summary = emptySummary('seeded', '', started);

  const key = await withTransaction(pool, (tx) =>
    createApiKey(tx, { name: `demo-seed-${runId}`, scopes: ['admin'], owner: actor }, { actor, actorType: 'system' }),
  );
  const logger = o.logger ?? createLogger({ level: 'warn', format: 'json', name: 'demo-api', destination: process.stderr });
  const { app } = createApp({ pool, n8n: o.n8n, keyring: o.keyring, logger, settings: o.apiSettings });
  let server: Awaited<ReturnType<typeof listen>> | undefined;
  let api: DemoApi | undefined;
  try {
    server = await listen(app, { port: 0, host: '127.0.0.1' });
    api = new DemoApi(server.url, key.key);
    const call = api.call.bind(api);

    // Plans: the ones already there (same code) are used as they are.
    const plans = new Map<string, PlanRow>();
    for (const p of (await call<{ data: PlanRow[] }>('GET', '/api/billing/plans')).data) plans.set(p.code, p);
    for (const p of DEMO_PLANS.filter((x) => !plans.has(x.code))) {
      plans.set(
        p.code,
        await call<PlanRow>('POST', '/api/billing/plans', { code: p.code, name: p.name, monthlyAmountCents: p.monthlyAmountCents }),
      );
      summary.plansCreated.push(p.code);
    }

    progress(`creating ${plural(clients.length, 'demo client')} with their subscriptions and invoices`);
    const secrets = new Map<string, string>();
    const subscriptionIds = new Map<string, string>();
    for (const c of clients) {
      const created = await call<{ webhookSecret: string }>('POST', '/api/clients', {
        slug: c.slug,
        name: c.name,
        contactEmail: c.contactEmail,
        contactPhone: c.contactPhone,
        timezone: c.timezone,
      });
      secrets.set(c.slug, created.webhookSecret);
      summary.createdClients.push({ slug: c.slug, name: c.name, status: c.status });

      const plan = plans.get(c.plan)!;
      const sub = await call<{ id: string }>('POST', '/api/billing/subscriptions', { client: c.slug, plan: c.plan });
      subscriptionIds.set(c.slug, sub.id);
      await backdateSubscription(pool, actor, sub.id, new Date(now.getTime() - c.subscribedDaysAgo * DAY_MS));

      for (const [i, inv] of c.invoices.entries()) {
        const issued = now.getTime() - inv.issuedDaysAgo * DAY_MS;
        const due = issued + inv.dueAfterDays * DAY_MS;
        const created = await call<{ id: string }>('POST', '/api/billing/invoices', {
          client: c.slug,
          number: invoiceNumber(c, i),
          amountCents: plan.monthlyAmountCents,
          currency: plan.currency,
          status: 'open',
          issuedAt: new Date(issued).toISOString(),
          dueAt: new Date(due).toISOString(),
        });
        if (inv.paidAfterDays !== undefined) {
          const paidAt = new Date(Math.min(issued + inv.paidAfterDays * DAY_MS, now.getTime())).toISOString();
          await call('POST', `/api/billing/invoices/${created.id}/pay`, { paidAt });
          summary.invoices.paid++;
        } else if (due < now.getTime()) summary.invoices.overdue++;
        else summary.invoices.open++;
      }
    }

    // n8n: the workflows of the clients that run some, mapped to their client, then executed.
    const withWorkflows = clients.filter((c) => c.workflows.length > 0);
    const runPlan: Parameters<typeof waitForRuns>[1] = [];
    if (withWorkflows.length > 0) {
      progress(`importing the demo workflows into n8n (${o.n8nUrl}) and executing them`);
      const existing = new Map<string, N8nWorkflow>();
      const names = new Set(withWorkflows.flatMap((c) => c.workflows.map((w) => workflowName(c, w, o.tag))));
      for (const w of await o.n8n.listWorkflows()) if (names.has(w.name) && !existing.has(w.name)) existing.set(w.name, w);
      const holdUntil = Date.now() + stuckSeconds * 1000;
      for (const c of withWorkflows) {
        for (const wf of c.workflows) {
          const imported = await importWorkflow(o.n8n, existing, c, wf, o.tag);
          summary.workflows.push(imported);
          await call('POST', '/api/automations', {
            client: c.slug,
            n8nWorkflowId: imported.id,
            minutesSavedPerRun: wf.minutesSavedPerRun,
            hourlyValueCents: wf.hourlyValueCents,
            currency: plans.get(c.plan)!.currency,
          });
          summary.automations++;
          await o.n8n.activateWorkflow(imported.id);
          const before = await executionIds(o.n8n, imported.id);
          for (const [i, run] of wf.runs.entries()) await triggerRun(o.n8nUrl, imported.webhookPath, run, i, holdUntil);
          const holding = wf.runs.filter((r) => r.outcome === 'hold').length;
          if (holding > 0) summary.stuckUntil = new Date(holdUntil).toISOString();
          runPlan.push({ workflowId: imported.id, name: imported.name, before, finishing: wf.runs.length - holding, holding });
        }
      }
    }

    progress('sending 30 days of signed webhook events');
    for (const c of clients) {
      const events = demoEvents(c, { now, runId });
      await forEachLimited(events, 4, async (e) => {
        const result = await api!.postEvent(c.slug, secrets.get(c.slug)!, e);
        summary.events[result === 'stored' ? 'stored' : 'duplicates']++;
      });
      const first = events[0]?.occurredAt ?? null;
      const last = events[events.length - 1]?.occurredAt ?? null;
      if (first && (!summary.events.oldest || first < summary.events.oldest)) summary.events.oldest = first;
      if (last && (!summary.events.newest || last > summary.events.newest)) summary.events.newest = last;
    }

    // Status moves last: a churned client's events are refused, so they were sent before.
    for (const c of clients) {
      if (c.status === 'paused') await call('POST', `/api/clients/${c.slug}/pause`);
      if (c.status === 'churned') {
        await call('POST', `/api/billing/subscriptions/${subscriptionIds.get(c.slug)}/cancel`);
        await call('POST', `/api/clients/${c.slug}/churn`);
      }
    }
    for (const c of clients) summary.subscriptions[c.status === 'churned' ? 'canceled' : 'active']++;

    if (runPlan.length > 0) {
      progress('waiting for n8n to report the executions');
      const tally = await waitForRuns(o.n8n, runPlan);
      summary.executions = { success: tally.success, error: tally.error, running: tally.running };
    }
  } finally {
    await revokeKey(pool, api, key.id, actor);
    await server?.close(2000);
  }
  summary.rateLimited = api?.rateLimited ?? 0;
  summary.durationSeconds = (Date.now() - started) / 1000;
  summary.message = `demo data loaded: ${plural(summary.createdClients.length, 'client')}, ${plural(summary.events.stored, 'event')}, ${plural(
    summary.executions.success.length + summary.executions.error.length + summary.executions.running.length,
    'n8n execution',
  )}`;
  return summary;
}

/**
 * The API starts a subscription now and has no route to date it back; the demo's clients have
 * paid invoices for earlier months, so their subscriptions started before those. Written in SQL,
 * with its audit row, in one transaction.
 */
async function backdateSubscription(pool: Pool, actor: string, id: string, startedAt: Date): Promise<void> {
  await withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ client_id: string }>(
      'UPDATE subscriptions SET started_at = $2 WHERE id = $1 AND canceled_at IS NULL RETURNING client_id',
      [id, startedAt],
    );
    if (!rows[0]) throw new Error(`subscription ${id} vanished or was canceled while seeding`);
    await writeAudit(tx, {
      actor,
      actorType: 'system',
      action: 'subscription.backdate',
      targetType: 'subscription',
      targetId: id,
      clientId: rows[0].client_id,
      outcome: 'success',
      details: { startedAt: startedAt.toISOString(), reason: 'demo data: the subscription predates its paid invoices' },
    });
  });
}

/** Revokes the seed's key through the API; if the API cannot, directly, so it never stays valid. */
async function revokeKey(pool: Pool, api: DemoApi | undefined, id: string, actor: string): Promise<void> {
  try {
    if (!api) throw new Error('the API did not start');
    await api.call('DELETE', `/api/auth/api-keys/${id}`);
    return;
  } catch (err) {
    await withTransaction(pool, async (tx) => {
      await tx.query('UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1', [id]);
      await writeAudit(tx, {
        actor,
        actorType: 'system',
        action: 'api_key.revoke',
        targetType: 'api_key',
        targetId: id,
        outcome: 'success',
        details: { reason: `the API could not revoke it: ${errorMessage(err)}` },
      });
    });
  }
}

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
