import {
  createAutomation,
  createClient,
  createPlan,
  createSubscription,
  createWebhookSecret,
  HttpError,
  loadValidWebhookSecrets,
  WEBHOOK_SECRET_KIND,
  type AuditWho,
} from '@ct/api';
import {
  addPortalUser,
  currentPortalToken,
  issuePortalToken,
  listPortalUsers,
  syncGrafanaOrgs,
  type DashboardJson,
  type GrafanaClient,
  type SyncSettings,
} from '@ct/client-portal';
import {
  errorMessage,
  UserError,
  withTransaction,
  writeAudit,
  type N8nClient,
  type N8nWorkflow,
  type Pool,
  type SecretKeyring,
} from '@ct/lib';
import type { OnboardSpec } from './spec';
import {
  CRYPTO_CREDENTIAL_TYPE,
  fillReportWorkflow,
  newReportWebhookPath,
  reportCredentialId,
  reportCredentialName,
  reportWebhookPath,
  reportWorkflowName,
  REPORT_WORKFLOW_PREFIX,
} from './workflow';

/**
 * `ct client onboard`: the steps that take a client from nothing to its first signed event, each
 * one idempotent. A step first looks at what exists (the client row, its secrets, the plan, the
 * subscription, the automations, the n8n credential and workflow by their names, the Grafana org,
 * the portal user, an event) and creates only what is missing, so running it again after a failure
 * continues where it stopped and creates nothing twice. Nothing existing is rotated: one-time
 * secrets of an earlier run are not shown again (the summary says how to rotate them).
 *
 * Each change is audited: database changes by the shared functions of the API, in the change's
 * transaction; changes in n8n and Grafana right after the service accepted them (the org sync and
 * portal users as `ct grafana sync` and `ct client portal-user` audit them). The run itself ends with
 * one `client.onboard` row, success or failure.
 */

export interface OnboardDeps {
  pool: Pool;
  keyring: SecretKeyring;
  n8n: N8nClient;
  /** n8n's base URL, where its production webhooks are (/webhook/<path>). */
  n8nUrl: string;
  grafana: GrafanaClient;
  syncSettings: SyncSettings;
  dashboards(): DashboardJson[];
  /** Who the audit rows name, e.g. cli:alice. */
  actor: string;
  /** The reporting workflow's template (default: docs/n8n/report-event-workflow.json). */
  templatePath?: string;
  /** How often the wait polls the database (default 1 s). */
  pollIntervalMs?: number;
  /** A line per step as it happens (e.g. to stderr). */
  progress?(line: string): void;
}

export type StepStatus = 'created' | 'exists' | 'updated' | 'failed' | 'skipped';

export interface StepResult {
  step: string;
  status: StepStatus;
  detail: string;
}

export interface OnboardResult {
  slug: string;
  ok: boolean;
  steps: StepResult[];
  /** One-time secrets created by this run, shown once. */
  secrets: Array<{ label: string; value: string }>;
  /** What the operator should know: secrets of earlier runs, names kept as they were… */
  notes: string[];
  /** The step that failed and why (ok = false). */
  failure?: { step: string; message: string };
  /** Where things are, for the summary. */
  facts: Record<string, string>;
}

/** A step's failure the operator can act on (the message says what to do). */
class StepFailed extends Error {}

const ROTATE_WEBHOOK_SECRET =
  'to replace it, rotate it (POST /api/admin/clients/<slug>/rotate-secret) and put the new one in the n8n credential';

interface ClientRef {
  id: string;
  slug: string;
  name: string;
  status: string;
}

export async function onboardClient(spec: OnboardSpec, deps: OnboardDeps): Promise<OnboardResult> {
  return new Onboarding(spec, deps).run();
}

class Onboarding {
  private readonly result: OnboardResult;
  private readonly who: AuditWho;
  private client: ClientRef | null = null;
  private workflow: N8nWorkflow | null = null;
  private credential: { id: string; name: string } | null = null;
  private current = '';

  constructor(
    private readonly spec: OnboardSpec,
    private readonly d: OnboardDeps,
  ) {
    this.result = { slug: spec.client.slug, ok: false, steps: [], secrets: [], notes: [], facts: {} };
    this.who = { actor: d.actor, actorType: 'system', sourceIp: null, requestId: null };
  }

  async run(): Promise<OnboardResult> {
    const steps: Array<[string, () => Promise<void>]> = [
      ['client', () => this.stepClient()],
      ['webhook secret', () => this.stepWebhookSecret()],
      ['plan', () => this.stepPlan()],
      ['subscription', () => this.stepSubscription()],
      ['portal credential', () => this.stepPortalToken()],
      ['automations', () => this.stepAutomations()],
      ['n8n credential', () => this.stepCredential()],
      ['reporting workflow', () => this.stepWorkflow()],
      ['grafana org', () => this.stepGrafana()],
      ['portal user', () => this.stepPortalUser()],
      ['first event', () => this.stepFirstEvent()],
    ];
    try {
      for (const [name, fn] of steps) {
        this.current = name;
        await fn();
      }
      this.result.ok = true;
    } catch (err) {
      const message = describe(err);
      this.result.failure = { step: this.current, message };
      this.record(this.current, 'failed', message);
    }
    await this.auditRun().catch((err: unknown) =>
      this.result.notes.push(`the audit row of this run could not be written: ${describe(err)}`),
    );
    return this.result;
  }

  // ------------------------------------------------------------------ helpers

  private record(step: string, status: StepStatus, detail: string): void {
    this.result.steps.push({ step, status, detail });
    this.d.progress?.(`${step}: ${status}${detail ? ` (${detail})` : ''}`);
  }

  private get clientId(): string {
    return this.client!.id;
  }

  private audit(action: string, targetType: string, targetId: string, details: Record<string, unknown>) {
    return writeAudit(this.d.pool, {
      ...this.who,
      outcome: 'success',
      action,
      targetType,
      targetId,
      clientId: this.client?.id ?? null,
      details,
    });
  }

  private async auditRun(): Promise<void> {
    if (!this.client) return; // nothing was created and there is no client to name
    await writeAudit(this.d.pool, {
      ...this.who,
      action: 'client.onboard',
      targetType: 'client',
      targetId: this.client.id,
      clientId: this.client.id,
      outcome: this.result.ok ? 'success' : 'failure',
      details: {
        steps: Object.fromEntries(this.result.steps.map((s) => [s.step, s.status])),
        ...(this.result.failure ? { failed_step: this.result.failure.step } : {}),
      },
    });
  }

  // ------------------------------------------------------------------ database steps

  private async stepClient(): Promise<void> {
    const c = this.spec.client;
    const found = await this.d.pool.query<ClientRef>('SELECT id::text, slug, name, status FROM clients WHERE slug = $1', [c.slug]);
    if (found.rows[0]) {
      this.client = found.rows[0];
      if (this.client.status === 'churned')
        throw new StepFailed(`client ${c.slug} has churned: onboarding does not bring a churned client back`);
      if (this.client.name !== c.name) this.result.notes.push(`client ${c.slug} exists as "${this.client.name}"; its name was left as is`);
      this.record('client', 'exists', `${this.client.name}, ${this.client.status}`);
      return;
    }
    const created = await withTransaction(this.d.pool, (tx) => createClient(tx, this.d.keyring, { ...c, plan: undefined }, this.who));
    this.client = { id: created.client.id, slug: created.client.slug, name: created.client.name, status: created.client.status };
    this.result.secrets.push({ label: 'webhook secret (also put in the n8n credential)', value: created.webhookSecret });
    this.record('client', 'created', `${c.name}, with webhook secret version 1`);
  }

  private async stepWebhookSecret(): Promise<void> {
    if (this.result.steps.some((s) => s.step === 'client' && s.status === 'created')) return; // created with the client
    const { rows } = await this.d.pool.query<{ total: number; valid: number }>(
      `SELECT count(*)::int AS total, count(*) FILTER (WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))::int AS valid
         FROM client_secrets WHERE client_id = $1 AND kind = $2`,
      [this.clientId, WEBHOOK_SECRET_KIND],
    );
    const { total, valid } = rows[0]!;
    if (valid > 0) {
      this.result.notes.push(
        `the webhook secret of ${this.spec.client.slug} was shown when it was created and cannot be shown again; ${ROTATE_WEBHOOK_SECRET.replace('<slug>', this.spec.client.slug)}`,
      );
      this.record('webhook secret', 'exists', 'not shown again');
      return;
    }
    if (total > 0)
      throw new StepFailed(
        `client ${this.spec.client.slug} has no valid webhook secret (all ended): onboarding does not rotate secrets; ${ROTATE_WEBHOOK_SECRET.replace('<slug>', this.spec.client.slug)}`,
      );
    const secret = await withTransaction(this.d.pool, async (tx) => {
      const s = await createWebhookSecret(tx, this.d.keyring, this.clientId);
      await writeAudit(tx, {
        ...this.who,
        outcome: 'success',
        action: 'client.webhook_secret.create',
        targetType: 'client',
        targetId: this.clientId,
        clientId: this.clientId,
        details: { version: 1 },
      });
      return s;
    });
    this.result.secrets.push({ label: 'webhook secret (also put in the n8n credential)', value: secret });
    this.record('webhook secret', 'created', 'version 1');
  }

  private async stepPlan(): Promise<void> {
    const p = this.spec.plan;
    const { rows } = await this.d.pool.query<{ name: string; active: boolean; monthly_amount_cents: string; currency: string }>(
      'SELECT name, active, monthly_amount_cents::text, currency FROM plans WHERE code = $1',
      [p.code],
    );
    const plan = rows[0];
    if (plan) {
      if (!plan.active) throw new StepFailed(`plan ${p.code} is not active: activate it (PATCH /api/plans/<id>) or choose another plan`);
      if (p.monthlyAmountCents !== undefined && Number(plan.monthly_amount_cents) !== p.monthlyAmountCents)
        this.result.notes.push(
          `plan ${p.code} exists at ${plan.monthly_amount_cents} ${plan.currency} cents a month; its price was left as is`,
        );
      this.record('plan', 'exists', `${plan.name}, ${money(plan.monthly_amount_cents, plan.currency)}`);
      return;
    }
    if (p.name === undefined || p.monthlyAmountCents === undefined) {
      const missing = [p.name === undefined ? 'plan.name' : null, p.monthlyAmountCents === undefined ? 'plan.monthlyAmountCents' : null]
        .filter(Boolean)
        .join(' and ');
      throw new StepFailed(`there is no plan ${p.code}: give ${missing} to create it`);
    }
    await withTransaction(this.d.pool, (tx) =>
      createPlan(tx, { code: p.code, name: p.name!, monthlyAmountCents: p.monthlyAmountCents!, currency: p.currency }, this.who),
    );
    this.record('plan', 'created', `${p.name}, ${money(p.monthlyAmountCents, p.currency)}`);
  }

  private async stepSubscription(): Promise<void> {
    const { rows } = await this.d.pool.query<{ code: string; monthly_amount_cents: string; currency: string }>(
      `SELECT p.code, s.monthly_amount_cents::text, s.currency FROM subscriptions s JOIN plans p ON p.id = s.plan_id
        WHERE s.client_id = $1 AND s.canceled_at IS NULL`,
      [this.clientId],
    );
    const active = rows[0];
    if (active) {
      if (active.code !== this.spec.plan.code)
        throw new StepFailed(
          `client ${this.spec.client.slug} already subscribes to plan ${active.code}: cancel that subscription first (POST /api/subscriptions/<id>/cancel) or onboard with plan ${active.code}`,
        );
      this.record('subscription', 'exists', `${active.code}, ${money(active.monthly_amount_cents, active.currency)}`);
      return;
    }
    await withTransaction(this.d.pool, (tx) =>
      createSubscription(
        tx,
        { client: this.clientId, plan: this.spec.plan.code, monthlyAmountCents: this.spec.subscription.monthlyAmountCents },
        this.who,
      ),
    );
    this.record('subscription', 'created', this.spec.plan.code);
  }

  private async stepPortalToken(): Promise<void> {
    if (await currentPortalToken(this.d.pool, this.d.keyring, this.clientId)) {
      this.record(
        'portal credential',
        'exists',
        `rotate it with \`ct portal token ${this.spec.client.slug}\` then \`ct grafana sync --client ${this.spec.client.slug}\``,
      );
      return;
    }
    const issued = await issuePortalToken(this.d.pool, this.d.keyring, this.spec.client.slug, {
      actor: { actor: this.who.actor, actorType: 'system' },
    });
    // Not shown: the org sync puts it in the client organisation's datasource, where it is used.
    this.record('portal credential', 'created', `portal token version ${issued.version} and database role, for the Grafana datasources`);
  }

  // ------------------------------------------------------------------ n8n steps

  private async stepAutomations(): Promise<void> {
    if (this.spec.automations.length === 0) {
      this.record('automations', 'skipped', 'no workflow named; map them later with POST /api/automations');
      return;
    }
    const workflows = await this.d.n8n.listWorkflows();
    const mapped = await this.d.pool.query<{ n8n_workflow_id: string; client_id: string; slug: string }>(
      'SELECT a.n8n_workflow_id, a.client_id::text, c.slug FROM automations a JOIN clients c ON c.id = a.client_id',
    );
    const owner = new Map(mapped.rows.map((r) => [r.n8n_workflow_id, r]));
    const created: string[] = [];
    const existing: string[] = [];
    const unmapped = workflows.filter((w) => !owner.has(String(w.id)) && !w.name.startsWith(REPORT_WORKFLOW_PREFIX));
    for (const [i, a] of this.spec.automations.entries()) {
      const wf = resolveWorkflow(workflows, a.workflow, `automations.${i}.workflow`, unmapped);
      const by = owner.get(wf.id);
      if (by && by.client_id === this.clientId) {
        existing.push(wf.name);
        continue;
      }
      if (by)
        throw new StepFailed(`automations.${i}.workflow: n8n workflow "${wf.name}" (${wf.id}) is mapped to client ${by.slug} already`);
      await createAutomation(
        this.d.pool,
        this.d.n8n,
        {
          client: this.clientId,
          n8nWorkflowId: wf.id,
          name: a.name,
          minutesSavedPerRun: a.minutesSavedPerRun,
          hourlyValueCents: a.hourlyValueCents,
          currency: a.currency,
        },
        this.who,
      );
      created.push(wf.name);
    }
    const parts = [created.length ? `mapped ${created.join(', ')}` : '', existing.length ? `already mapped: ${existing.join(', ')}` : ''];
    this.record('automations', created.length ? 'created' : 'exists', parts.filter(Boolean).join('; '));
  }

  private async stepCredential(): Promise<void> {
    const name = reportCredentialName(this.spec.client.slug);
    const found = (await this.d.n8n.listCredentials()).find((c) => c.name === name && c.type === CRYPTO_CREDENTIAL_TYPE);
    if (found) {
      this.credential = { id: found.id, name: found.name };
      this.record('n8n credential', 'exists', `"${name}" (${found.id}); its secret is not read back`);
      return;
    }
    const current = (await loadValidWebhookSecrets(this.d.pool, this.d.keyring, this.clientId)).find((s) => s.expiresAt === null);
    if (!current) throw new StepFailed(`client ${this.spec.client.slug} has no current webhook secret to put in n8n`);
    const made = await this.d.n8n.createCredential({ name, type: CRYPTO_CREDENTIAL_TYPE, data: { hmacSecret: current.secret } });
    this.credential = { id: made.id, name: made.name };
    await this.audit('n8n.credential.create', 'n8n_credential', made.id, {
      name,
      type: CRYPTO_CREDENTIAL_TYPE,
      secret_version: current.version,
    });
    this.record('n8n credential', 'created', `"${name}" (${made.id}), type Crypto, holding webhook secret version ${current.version}`);
  }

  private async stepWorkflow(): Promise<void> {
    const name = reportWorkflowName(this.spec.client.slug);
    const found = (await this.d.n8n.listWorkflows()).filter((w) => w.name === name);
    if (found.length > 1)
      throw new StepFailed(`n8n has ${found.length} workflows named "${name}" (${found.map((w) => w.id).join(', ')}): delete all but one`);
    let wf = found[0] ? await this.d.n8n.getWorkflow(found[0].id) : null;
    let status: StepStatus = 'exists';
    if (!wf) {
      const filled = fillReportWorkflow(
        {
          apiUrl: this.spec.reporting.apiUrl,
          slug: this.spec.client.slug,
          eventType: this.spec.reporting.eventType,
          credential: this.credential!,
          webhookPath: newReportWebhookPath(this.spec.client.slug),
        },
        this.d.templatePath,
      );
      wf = await this.d.n8n.createWorkflow({
        name: filled.name,
        nodes: filled.nodes,
        connections: filled.connections,
        settings: filled.settings,
      });
      await this.audit('n8n.workflow.import', 'n8n_workflow', wf.id, { name, credential_id: this.credential!.id });
      status = 'created';
    } else if (reportCredentialId(wf) !== this.credential!.id) {
      this.result.notes.push(
        `workflow "${name}" signs with another credential than "${this.credential!.name}": check its "Sign event" node`,
      );
    }
    if (!wf.active) {
      wf = await this.d.n8n.activateWorkflow(wf.id);
      await this.audit('n8n.workflow.activate', 'n8n_workflow', wf.id, { name });
      if (status === 'exists') status = 'updated';
    }
    this.workflow = wf;
    const path = reportWebhookPath(wf);
    this.result.facts['reporting workflow'] = `"${name}" (${wf.id}), active`;
    if (path) this.result.facts['reporting webhook (POST the event data here)'] = `${this.d.n8nUrl.replace(/\/+$/, '')}/webhook/${path}`;
    this.record('reporting workflow', status, `"${name}" (${wf.id})${status === 'updated' ? ', activated' : ''}`);
  }

  // ------------------------------------------------------------------ Grafana steps

  private async stepGrafana(): Promise<void> {
    const result = await syncGrafanaOrgs({
      pool: this.d.pool,
      grafana: this.d.grafana,
      settings: this.d.syncSettings,
      portalToken: (clientId) => currentPortalToken(this.d.pool, this.d.keyring, clientId),
      dashboards: this.d.dashboards,
      actor: this.who.actor,
      clientSlug: this.spec.client.slug,
    });
    if (result.problems.length) throw new StepFailed(`the Grafana org sync is incomplete: ${result.problems.join('; ')}`);
    this.record(
      'grafana org',
      result.changes ? 'created' : 'exists',
      `${result.changes} change${result.changes === 1 ? '' : 's'} by the org sync`,
    );
  }

  private async stepPortalUser(): Promise<void> {
    const email = this.spec.portalUser.email;
    const o = { pool: this.d.pool, grafana: this.d.grafana, actor: this.who.actor, clientSlug: this.spec.client.slug };
    const users = await listPortalUsers(o);
    if (users.some((u) => u.email.toLowerCase() === email || u.login.toLowerCase() === email)) {
      this.result.notes.push(
        `portal user ${email}'s password was shown when it was created and cannot be shown again; to give a new one: ` +
          `\`ct client portal-user remove ${this.spec.client.slug} ${email}\` then \`ct client portal-user add ${this.spec.client.slug} ${email}\``,
      );
      this.record('portal user', 'exists', email);
      return;
    }
    const added = await addPortalUser({ ...o, email });
    this.result.secrets.push({ label: `Grafana password of ${added.email} (have it changed at first sign-in)`, value: added.password });
    this.record('portal user', 'created', `${added.email}, Viewer`);
  }

  // ------------------------------------------------------------------ the first event

  private async firstEvent(): Promise<{ kind: string; received_at: Date } | null> {
    const { rows } = await this.d.pool.query<{ kind: string; received_at: Date }>(
      'SELECT kind, received_at FROM activity_events WHERE client_id = $1 ORDER BY id LIMIT 1',
      [this.clientId],
    );
    return rows[0] ?? null;
  }

  private async stepFirstEvent(): Promise<void> {
    const { timeout, sendTestEvent } = this.spec.wait;
    let event = await this.firstEvent();
    if (event) {
      this.record('first event', 'exists', `${event.kind}, received ${event.received_at.toISOString()}`);
      return;
    }
    if (sendTestEvent) await this.sendTestEvent();
    if (timeout <= 0) {
      this.record('first event', 'skipped', 'not waited for (wait timeout 0): run the command again to wait');
      return;
    }
    this.d.progress?.(`waiting up to ${formatSeconds(timeout)} for ${this.spec.client.slug}'s first signed event…`);
    const deadline = Date.now() + timeout * 1000;
    const every = this.d.pollIntervalMs ?? 1000;
    while (!event && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(every, Math.max(0, deadline - Date.now()))));
      event = await this.firstEvent();
    }
    if (!event) throw new StepFailed(await this.timeoutMessage(timeout));
    this.record('first event', 'created', `${event.kind}, received ${event.received_at.toISOString()}`);
  }

  private async sendTestEvent(): Promise<void> {
    const path = this.workflow ? reportWebhookPath(this.workflow) : null;
    if (!path) throw new StepFailed('the reporting workflow has no webhook trigger to send a test event to');
    const url = `${this.d.n8nUrl.replace(/\/+$/, '')}/webhook/${path}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ test: true, source: 'ct client onboard' }),
      signal: AbortSignal.timeout(30_000),
    }).catch((err: unknown) => {
      throw new StepFailed(`the test event could not be posted to n8n's webhook: ${describe(err)}`);
    });
    const text = (await res.text()).slice(0, 300);
    this.d.progress?.(`test event posted to the reporting workflow: n8n answered ${res.status}${res.ok ? '' : `: ${text}`}`);
  }

  /** What to check when no event came, with what n8n says of the workflow's last run. */
  private async timeoutMessage(timeout: number): Promise<string> {
    const slug = this.spec.client.slug;
    const wf = this.workflow;
    let lastRun = '';
    if (wf) {
      try {
        const last = (await this.d.n8n.listExecutions({ workflowId: wf.id }))[0];
        if (!last) lastRun = ' n8n has no execution of the workflow: nothing triggered it yet.';
        else {
          const detail = last.status === 'error' ? await this.executionError(last.id) : '';
          lastRun = ` n8n's last execution of it (${last.id}) ended ${last.status}${detail ? `: ${detail}` : ''}.`;
        }
      } catch (err) {
        lastRun = ` (n8n's executions could not be read: ${describe(err)})`;
      }
    }
    return (
      `no signed event from ${slug} arrived within ${formatSeconds(timeout)}.${lastRun} Check: ` +
      `(1) the workflow "${reportWorkflowName(slug)}" is active in n8n and something triggers it; ` +
      `(2) its "Sign event" node uses the credential "${reportCredentialName(slug)}" and that credential holds the client's current webhook secret (after a rotation, update it); ` +
      `(3) ${this.spec.reporting.apiUrl.replace(/\/+$/, '')}/api/webhooks/n8n/${slug} is reachable from n8n (ECONNREFUSED, ENOTFOUND or a timeout in the execution say it is not); ` +
      `(4) n8n's clock is within 5 minutes of the API's (a 401 in the execution means a wrong secret or clock skew). ` +
      'Run the same command again to keep waiting: nothing is created twice.'
    );
  }

  private async executionError(id: string): Promise<string> {
    const ex = (await this.d.n8n.getExecution(id, true)) as { data?: { resultData?: { error?: { message?: string } } } };
    return (ex.data?.resultData?.error?.message ?? '').slice(0, 300);
  }
}

/** An n8n workflow by id, or by exact name when the name is unique; when none, the unmapped ones are listed. */
export function resolveWorkflow(workflows: N8nWorkflow[], ref: string, field: string, unmapped: N8nWorkflow[] = []): N8nWorkflow {
  const byId = workflows.find((w) => String(w.id) === ref);
  if (byId) return { ...byId, id: String(byId.id) };
  const byName = workflows.filter((w) => w.name === ref);
  if (byName.length === 1) return { ...byName[0]!, id: String(byName[0]!.id) };
  if (byName.length > 1)
    throw new StepFailed(
      `${field}: ${byName.length} n8n workflows are named "${ref}" (${byName.map((w) => w.id).join(', ')}): give the id`,
    );
  const listed = unmapped.slice(0, 20).map((w) => `"${w.name}" (${w.id})`);
  const more = unmapped.length > listed.length ? `, and ${unmapped.length - listed.length} more` : '';
  throw new StepFailed(
    `${field}: n8n has no workflow with id or name "${ref}"; ` +
      (listed.length
        ? `the workflows no client has yet: ${listed.join(', ')}${more}`
        : 'every workflow of n8n is mapped to a client already'),
  );
}

function money(cents: string | number, currency: string): string {
  return `${(Number(cents) / 100).toFixed(2)} ${currency}/month`;
}

function formatSeconds(s: number): string {
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

function describe(err: unknown): string {
  if (err instanceof StepFailed || err instanceof UserError) return err.message;
  if (err instanceof HttpError) return err.message;
  return errorMessage(err);
}
