import { createHash } from 'node:crypto';
import { UserError, withTransaction, writeAudit, type Pool, type PoolClient } from '@ct/lib';
import {
  clientRoleChanges,
  clientRoleName,
  clientRoleState,
  disableClientRoleLogin,
  dropClientRole,
  ensureClientRole,
  predictDropClientRole,
  setClientRolePassword,
  type ClientRoleState,
} from '../database';
import { PORTAL_TOKEN_KIND } from '../proxy/tokens';
import { GrafanaApiError, type DatasourceCommand, type GrafanaClient, type GrafanaDatasource, type GrafanaOrg } from './client';
import { CLIENT_HOME_DASHBOARD_UID, type DashboardJson } from './dashboards';

/**
 * `ct grafana sync`: makes Grafana's client organisations what the clients table says, through
 * Grafana's HTTP API, idempotently.
 *
 * Per active or paused client: an org "CT — <client name>" whose members are Viewers (plus the
 * sync's own admin user); exactly two datasources — the tenant proxy with the client's portal token
 * and the client's own PostgreSQL role — and no other (any other one is deleted: an org member can
 * send any query to any datasource of the org); the client dashboards, not editable, the overview
 * as the org's home. Per churned client (GRAFANA_CHURNED_ORGS): `keep` removes its users and its
 * datasources (their credentials) and keeps the org and dashboards; `delete` removes its users and
 * deletes the org. A portal user is deleted from Grafana when it belongs to no other org.
 *
 * Grafana never returns a datasource's secureJsonData, so each datasource carries in its jsonData
 * a fingerprint of the credential sync last pushed (`ctCredentialFingerprint`, a truncated SHA-256
 * of the token under a fixed prefix: it identifies a 256-bit random token without revealing
 * anything usable about it); a rotated token no longer matches and the datasource is updated.
 *
 * Each change is written to the audit log, one row per change, right after Grafana accepted it (a
 * failed one with outcome `failure`). `dryRun` reads the same state and prints the same plan but
 * changes nothing (it still switches the sync user's current org to read an org's datasources and
 * dashboards: the API document has no other way to read another org's).
 */

export const ORG_NAME_PREFIX = 'CT — ';
export const PROMETHEUS_DATASOURCE = { name: 'Automations', uid: 'ct-portal-prometheus' } as const;
export const POSTGRES_DATASOURCE = { name: 'Activity', uid: 'ct-portal-postgres' } as const;
const PORTAL_DATASOURCE_UIDS: string[] = [PROMETHEUS_DATASOURCE.uid, POSTGRES_DATASOURCE.uid];
const SYNC_LOCK = 'ct:grafana-org-sync';

export function orgNameOf(clientName: string): string {
  return `${ORG_NAME_PREFIX}${clientName}`;
}

/** What identifies a pushed credential in the datasource's (readable) jsonData. */
export function credentialFingerprint(token: string): string {
  return createHash('sha256').update(`ct-portal-credential\0${token}`).digest('hex').slice(0, 16);
}

export interface SyncSettings {
  /** The tenant proxy as Grafana reaches it. */
  tenantProxyUrl: string;
  /** host:port of the platform database as Grafana reaches it. */
  dbHost: string;
  dbName: string;
  dbSslmode: string;
  churnedOrgs: 'keep' | 'delete';
}

export interface SyncOptions {
  pool: Pool;
  grafana: GrafanaClient;
  settings: SyncSettings;
  /** The client's current portal token in clear, or null when it has none. */
  portalToken(clientId: string): Promise<string | null>;
  /** The client organisation's dashboards (clientDashboards() of @ct/dashboards). */
  dashboards(): DashboardJson[];
  actor: string;
  dryRun?: boolean;
  /** Only this client (by slug). */
  clientSlug?: string;
}

export type ObjectKind = 'org' | 'user' | 'datasource' | 'dashboard' | 'home' | 'database role' | 'portal token';
export type ItemAction = 'create' | 'update' | 'remove' | 'delete' | 'revoke' | 'nothing to do' | 'blocked' | 'failed' | 'warning';

export interface PlanItem {
  client: string;
  kind: ObjectKind;
  name: string;
  action: ItemAction;
  detail?: string;
}

export interface SyncResult {
  dryRun: boolean;
  items: PlanItem[];
  /** Changes made (or, in a dry run, that would be made). */
  changes: number;
  /** What stops the sync from being complete: blocked or failed items. */
  problems: string[];
}

interface ClientRow {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'paused' | 'churned';
}

const CHANGES: ItemAction[] = ['create', 'update', 'remove', 'delete', 'revoke'];

/** What a database step of sync planned or did, and the audit row of its change. */
interface DbOutcome {
  action: ItemAction;
  detail?: string;
  audit?: { action: string; targetType: string; targetId: string; details?: Record<string, unknown> };
}

/** Carries a dry run's outcome out of its transaction, which is rolled back. */
class RolledBack extends Error {
  constructor(readonly outcome: DbOutcome) {
    super('dry run: rolled back');
  }
}

/** How each fact of a client role reads in a plan line. */
const ROLE_FACTS: Record<keyof ClientRoleState['facts'], string> = {
  attributes: 'attributes',
  memberOf: 'memberships',
  settings: 'session defaults',
  mappedClient: 'bound to the client',
  schemaUsage: 'USAGE on schema portal',
  views: 'SELECT on the portal views',
  foreignOwnedViews: 'views given back to ct_portal_owner',
  ownerColumns: "ct_portal_owner's column grants",
};

/** JSON with keys sorted, so two equal models compare equal whatever their key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}

function withoutKeys(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}

class Run {
  readonly items: PlanItem[] = [];
  readonly problems: string[] = [];
  private readonly login: string;
  /** The sync user's current org when the run started, restored at the end. */
  private homeOrgId = 1;
  private currentOrgId = 0;

  constructor(private readonly o: SyncOptions) {
    this.login = o.grafana.login!;
  }

  private get dry(): boolean {
    return this.o.dryRun === true;
  }

  /** Records a plan item and, unless dry, applies it and writes its audit row. */
  private async change(
    client: ClientRow,
    item: Omit<PlanItem, 'client'>,
    audit: { action: string; targetType: string; targetId: string; details?: Record<string, unknown> },
    apply: () => Promise<unknown>,
  ): Promise<void> {
    const entry: PlanItem = { client: client.slug, ...item };
    this.items.push(entry);
    if (this.dry) return;
    const base = {
      actor: this.o.actor,
      actorType: 'system' as const,
      action: audit.action,
      targetType: audit.targetType,
      targetId: audit.targetId,
      clientId: client.id,
    };
    try {
      await apply();
    } catch (err) {
      entry.action = 'failed';
      entry.detail = `${item.action}: ${(err as Error).message}`;
      await writeAudit(this.o.pool, {
        ...base,
        outcome: 'failure',
        details: { ...audit.details, name: item.name, error: (err as Error).message },
      });
      throw err;
    }
    await writeAudit(this.o.pool, {
      ...base,
      outcome: 'success',
      details: { ...audit.details, name: item.name, change: item.action, detail: item.detail ?? null },
    });
  }

  private note(client: string, item: Omit<PlanItem, 'client'>): void {
    this.items.push({ client, ...item });
  }

  /** Makes `orgId` the sync user's current org, and checks that it is. */
  private async enter(orgId: number): Promise<void> {
    if (this.currentOrgId === orgId) return;
    await this.o.grafana.switchOrg(orgId);
    this.currentOrgId = orgId;
    const current = await this.o.grafana.currentOrg();
    if (current.id !== orgId) {
      throw new Error(
        `switched to org ${orgId} but Grafana acts in org ${current.id}: is ${this.login} used by someone else at the same time?`,
      );
    }
  }

  async run(): Promise<void> {
    const clients = await this.loadClients();
    const me = await this.o.grafana.signedInUser();
    this.homeOrgId = me.orgId || 1;
    this.currentOrgId = me.orgId;
    const orgs = await this.o.grafana.listOrgs();
    const byName = new Map(orgs.map((org) => [org.name, org]));
    try {
      for (const client of clients) {
        const org = byName.get(orgNameOf(client.name)) ?? null;
        // Grafana and the database are two steps: one failing does not hold the other back (a
        // churned client's access must end in the database even when Grafana is unreachable).
        if (client.status === 'churned') {
          await this.step(client, () => this.churned(client, org));
          await this.step(client, () => this.offboardDatabase(client));
        } else {
          await this.step(client, () => this.live(client, org));
          await this.step(client, () => this.clientRole(client));
        }
      }
      if (!this.o.clientSlug) {
        const expected = new Set(clients.map((c) => orgNameOf(c.name)));
        for (const org of orgs) {
          if (org.name.startsWith(ORG_NAME_PREFIX) && !expected.has(org.name)) {
            this.note('-', {
              kind: 'org',
              name: org.name,
              action: 'warning',
              detail: 'no client has this name (renamed or removed?): left as it is',
            });
          }
        }
      }
    } finally {
      if (this.currentOrgId !== this.homeOrgId) await this.o.grafana.switchOrg(this.homeOrgId).catch(() => undefined);
    }
  }

  /** Runs one step for a client; a failure is reported (as a `failed` line) and sync goes on. */
  private async step(client: ClientRow, fn: () => Promise<void>): Promise<void> {
    const from = this.items.length;
    try {
      await fn();
    } catch (err) {
      this.problems.push(`${client.slug}: ${(err as Error).message}`);
      if (!this.items.slice(from).some((i) => i.action === 'failed')) {
        this.note(client.slug, { kind: 'org', name: orgNameOf(client.name), action: 'failed', detail: (err as Error).message });
      }
    }
  }

  private async loadClients(): Promise<ClientRow[]> {
    const { rows } = await this.o.pool.query<ClientRow>(
      `SELECT id::text, slug, name, status FROM clients WHERE $1::text IS NULL OR slug = $1 ORDER BY slug`,
      [this.o.clientSlug ?? null],
    );
    if (this.o.clientSlug && rows.length === 0) throw new UserError(`no client with slug ${this.o.clientSlug}`);
    return rows;
  }

  // ---- an active or paused client ---------------------------------------------------------------

  private async live(client: ClientRow, existing: GrafanaOrg | null): Promise<void> {
    const orgName = orgNameOf(client.name);
    const token = await this.o.portalToken(client.id);
    let orgId = existing?.id ?? 0;
    if (!existing) {
      await this.change(
        client,
        { kind: 'org', name: orgName, action: 'create' },
        { action: 'grafana.org.create', targetType: 'grafana_org', targetId: orgName },
        async () => {
          orgId = await this.o.grafana.createOrg(orgName);
        },
      );
    } else {
      this.note(client.slug, { kind: 'org', name: orgName, action: 'nothing to do', detail: `org ${orgId}` });
      const joined = await this.members(client, orgId);
      if (!joined && this.dry) {
        // The sync user cannot read an org it is not a member of yet: the real run will.
        this.plannedForNewOrg(client, token, 'not readable before the sync user joins the org');
        return;
      }
    }
    const fresh = !existing;
    if (fresh && this.dry) {
      // Nothing to read in an org that does not exist yet: everything in it is created.
      this.plannedForNewOrg(client, token);
      return;
    }
    await this.enter(orgId);
    await this.datasources(client, orgId, token, fresh);
    await this.dashboards(client, orgId, fresh);
  }

  private plannedForNewOrg(client: ClientRow, token: string | null, unread?: string): void {
    const action = unread ? 'update' : 'create';
    for (const ds of [PROMETHEUS_DATASOURCE, POSTGRES_DATASOURCE]) {
      if (token) this.note(client.slug, { kind: 'datasource', name: ds.name, action, detail: unread });
      else this.blocked(client, ds.name);
    }
    for (const d of this.o.dashboards()) this.note(client.slug, { kind: 'dashboard', name: d.title, action, detail: unread });
    this.note(client.slug, { kind: 'home', name: this.homeUid(), action, detail: unread });
  }

  private blocked(client: ClientRow, name: string): void {
    const detail = `the client has no portal token: run \`ct portal token ${client.slug}\` first`;
    this.note(client.slug, { kind: 'datasource', name, action: 'blocked', detail });
    this.problems.push(`${client.slug}: datasource ${name}: ${detail}`);
  }

  /**
   * Members are Viewers; the sync user stays the org's Admin. A member that also belongs to another
   * org is reported: a portal user belongs to one client (portal-user add never makes another).
   * Returns whether the sync user was already a member.
   */
  private async members(client: ClientRow, orgId: number): Promise<boolean> {
    const users = await this.o.grafana.orgUsers(orgId);
    const joined = users.some((u) => u.login === this.login);
    if (!joined) {
      await this.change(
        client,
        { kind: 'user', name: this.login, action: 'create', detail: 'Admin, for sync' },
        { action: 'grafana.org_user.add', targetType: 'grafana_org', targetId: String(orgId), details: { role: 'Admin' } },
        () => this.o.grafana.addOrgUser(orgId, this.login, 'Admin'),
      );
    }
    for (const u of users) {
      if (u.login === this.login) continue;
      const elsewhere = (await this.o.grafana.userOrgs(u.userId)).filter((x) => x.orgId !== orgId);
      if (elsewhere.length) {
        this.note(client.slug, {
          kind: 'user',
          name: u.email || u.login,
          action: 'warning',
          detail: `also a member of ${elsewhere.map((x) => x.name).join(', ')}: a portal user should belong to one client only`,
        });
      }
      if (u.role === 'Viewer') {
        this.note(client.slug, { kind: 'user', name: u.email || u.login, action: 'nothing to do', detail: 'Viewer' });
        continue;
      }
      await this.change(
        client,
        { kind: 'user', name: u.email || u.login, action: 'update', detail: `role ${u.role} → Viewer` },
        {
          action: 'grafana.org_user.role',
          targetType: 'grafana_org',
          targetId: String(orgId),
          details: { user_id: u.userId, from: u.role, to: 'Viewer' },
        },
        () => this.o.grafana.setOrgUserRole(orgId, u.userId, 'Viewer'),
      );
    }
    return joined;
  }

  private desiredDatasources(client: ClientRow, token: string): DatasourceCommand[] {
    const marker = { ctClientId: client.id, ctCredentialFingerprint: credentialFingerprint(token) };
    const s = this.o.settings;
    return [
      {
        ...PROMETHEUS_DATASOURCE,
        type: 'prometheus',
        access: 'proxy',
        url: s.tenantProxyUrl,
        basicAuth: false,
        isDefault: true,
        jsonData: { httpMethod: 'POST', httpHeaderName1: 'Authorization', timeInterval: '15s', ...marker },
        secureJsonData: { httpHeaderValue1: `Bearer ${token}` },
      },
      {
        ...POSTGRES_DATASOURCE,
        type: 'grafana-postgresql-datasource',
        access: 'proxy',
        url: s.dbHost,
        user: clientRoleName(client.slug),
        basicAuth: false,
        isDefault: false,
        jsonData: { database: s.dbName, sslmode: s.dbSslmode, postgresVersion: 1500, maxOpenConns: 5, ...marker },
        secureJsonData: { password: token },
      },
    ];
  }

  /** What differs between a datasource in Grafana and what it should be (empty: nothing). */
  private datasourceDiff(have: GrafanaDatasource, want: DatasourceCommand): string[] {
    const diff: string[] = [];
    for (const f of ['name', 'type', 'access', 'url', 'user', 'basicAuth', 'isDefault'] as const) {
      if ((have[f] ?? '') !== (want[f] ?? (f === 'basicAuth' || f === 'isDefault' ? false : ''))) diff.push(f);
    }
    const secureKey = Object.keys(want.secureJsonData ?? {})[0]!;
    const credentialOk =
      have.jsonData?.ctCredentialFingerprint === want.jsonData.ctCredentialFingerprint && have.secureJsonFields?.[secureKey] === true;
    if (!credentialOk) diff.push('credential');
    if (
      canonical(withoutKeys(have.jsonData ?? {}, ['ctCredentialFingerprint'])) !==
      canonical(withoutKeys(want.jsonData, ['ctCredentialFingerprint']))
    ) {
      diff.push('jsonData');
    }
    return diff;
  }

  private async datasources(client: ClientRow, orgId: number, token: string | null, fresh: boolean): Promise<void> {
    if (!fresh) {
      for (const ds of await this.o.grafana.listDatasources()) {
        if (PORTAL_DATASOURCE_UIDS.includes(ds.uid)) continue;
        await this.change(
          client,
          {
            kind: 'datasource',
            name: ds.name,
            action: 'delete',
            detail: `${ds.type} at ${ds.url || '(no url)'} is not one of the portal's`,
          },
          {
            action: 'grafana.datasource.delete',
            targetType: 'grafana_datasource',
            targetId: `${orgId}/${ds.uid}`,
            details: { type: ds.type },
          },
          () => this.o.grafana.deleteDatasource(ds.uid),
        );
      }
    }
    if (!token) {
      this.blocked(client, PROMETHEUS_DATASOURCE.name);
      this.blocked(client, POSTGRES_DATASOURCE.name);
      return;
    }
    for (const want of this.desiredDatasources(client, token)) {
      const have = fresh ? null : await this.o.grafana.datasource(want.uid);
      const audit = { targetType: 'grafana_datasource', targetId: `${orgId}/${want.uid}`, details: { type: want.type, url: want.url } };
      if (!have) {
        await this.change(
          client,
          { kind: 'datasource', name: want.name, action: 'create' },
          { ...audit, action: 'grafana.datasource.create' },
          () => this.o.grafana.createDatasource(want),
        );
        continue;
      }
      const diff = this.datasourceDiff(have, want);
      if (diff.length === 0) {
        this.note(client.slug, { kind: 'datasource', name: want.name, action: 'nothing to do' });
        continue;
      }
      // The secret is sent only when it changed: Grafana keeps the stored one otherwise.
      const cmd = diff.includes('credential') ? want : { ...want, secureJsonData: undefined };
      await this.change(
        client,
        { kind: 'datasource', name: want.name, action: 'update', detail: diff.join(', ') },
        { ...audit, action: 'grafana.datasource.update', details: { ...audit.details, changed: diff } },
        () => this.o.grafana.updateDatasource(want.uid, cmd, have.version),
      );
    }
  }

  private homeUid(): string {
    const all = this.o.dashboards();
    return all.some((d) => d.uid === CLIENT_HOME_DASHBOARD_UID) ? CLIENT_HOME_DASHBOARD_UID : all[0]!.uid;
  }

  private async dashboards(client: ClientRow, orgId: number, fresh: boolean): Promise<void> {
    for (const d of this.o.dashboards()) {
      // Read-only for the client: not editable, whatever the generator says.
      const want = { ...withoutKeys(d, ['id', 'version']), editable: false };
      const have = fresh ? null : await this.o.grafana.dashboard(d.uid);
      const audit = { targetType: 'grafana_dashboard', targetId: `${orgId}/${d.uid}` };
      if (have && canonical(withoutKeys(have.dashboard, ['id', 'version'])) === canonical(want)) {
        this.note(client.slug, {
          kind: 'dashboard',
          name: d.title,
          action: 'nothing to do',
          detail: `version ${have.meta.version ?? '?'}`,
        });
        continue;
      }
      const action = have ? 'update' : 'create';
      await this.change(client, { kind: 'dashboard', name: d.title, action }, { ...audit, action: `grafana.dashboard.${action}` }, () =>
        this.o.grafana.saveDashboard({ ...want, id: null }, `ct grafana sync (${action})`),
      );
    }
    const home = this.homeUid();
    const prefs = fresh ? {} : await this.o.grafana.orgPreferences();
    if (prefs.homeDashboardUID === home) {
      this.note(client.slug, { kind: 'home', name: home, action: 'nothing to do' });
      return;
    }
    await this.change(
      client,
      {
        kind: 'home',
        name: home,
        action: prefs.homeDashboardUID ? 'update' : 'create',
        detail: prefs.homeDashboardUID ? `was ${prefs.homeDashboardUID}` : undefined,
      },
      { action: 'grafana.home_dashboard.set', targetType: 'grafana_org', targetId: String(orgId), details: { uid: home } },
      () => this.o.grafana.setHomeDashboard(home),
    );
  }

  // ---- a churned client -------------------------------------------------------------------------

  private async churned(client: ClientRow, org: GrafanaOrg | null): Promise<void> {
    const orgName = orgNameOf(client.name);
    if (!org) {
      this.note(client.slug, { kind: 'org', name: orgName, action: 'nothing to do', detail: 'churned, no organisation' });
      return;
    }
    for (const u of await this.o.grafana.orgUsers(org.id)) {
      if (u.login === this.login) continue;
      await this.removePortalUser(client, org.id, u.userId, u.email || u.login);
    }
    if (this.o.settings.churnedOrgs === 'delete') {
      // Grafana refuses to delete the org its user is acting in.
      if (this.currentOrgId === org.id) await this.enter(this.homeOrgId === org.id ? 1 : this.homeOrgId);
      await this.change(
        client,
        { kind: 'org', name: orgName, action: 'delete', detail: 'churned (GRAFANA_CHURNED_ORGS=delete)' },
        { action: 'grafana.org.delete', targetType: 'grafana_org', targetId: String(org.id) },
        () => this.o.grafana.deleteOrg(org.id),
      );
      return;
    }
    this.note(client.slug, { kind: 'org', name: orgName, action: 'nothing to do', detail: 'churned: kept without users or credentials' });
    await this.enter(org.id);
    for (const ds of await this.o.grafana.listDatasources()) {
      await this.change(
        client,
        { kind: 'datasource', name: ds.name, action: 'delete', detail: 'churned: its credential leaves Grafana' },
        {
          action: 'grafana.datasource.delete',
          targetType: 'grafana_datasource',
          targetId: `${org.id}/${ds.uid}`,
          details: { type: ds.type },
        },
        () => this.o.grafana.deleteDatasource(ds.uid),
      );
    }
  }

  // ---- the client's database role and portal token ------------------------------------------------

  /**
   * One change in the platform database, in a transaction of its own with its audit row: `fn`
   * reads, changes and says what it did. A dry run runs the same reads and rolls everything back,
   * so the plan is what the real run would do.
   */
  private async inTransaction(
    client: ClientRow,
    item: { kind: ObjectKind; name: string },
    onFailure: { action: string; targetType: string; targetId: string },
    fn: (tx: PoolClient) => Promise<DbOutcome>,
  ): Promise<void> {
    let outcome: DbOutcome;
    try {
      outcome = await withTransaction(this.o.pool, async (tx) => {
        const out = await fn(tx);
        if (this.dry) throw new RolledBack(out);
        if (out.audit && CHANGES.includes(out.action)) {
          await writeAudit(tx, {
            actor: this.o.actor,
            actorType: 'system',
            action: out.audit.action,
            targetType: out.audit.targetType,
            targetId: out.audit.targetId,
            clientId: client.id,
            outcome: 'success',
            details: { ...out.audit.details, name: item.name, change: out.action, detail: out.detail ?? null },
          });
        }
        return out;
      });
    } catch (err) {
      if (!(err instanceof RolledBack)) {
        this.items.push({ client: client.slug, ...item, action: 'failed', detail: (err as Error).message });
        if (!this.dry) {
          await writeAudit(this.o.pool, {
            actor: this.o.actor,
            actorType: 'system',
            ...onFailure,
            clientId: client.id,
            outcome: 'failure',
            details: { name: item.name, error: (err as Error).message },
          });
        }
        throw err;
      }
      outcome = err.outcome;
    }
    this.items.push({ client: client.slug, ...item, action: outcome.action, ...(outcome.detail ? { detail: outcome.detail } : {}) });
  }

  /**
   * An active or paused client's own PostgreSQL role, which its Activity datasource logs in as:
   * ensureClientRole puts back whatever is missing (after a restore with --no-privileges the role
   * has no grant; after a cluster move it may not exist), and a role made now, or found without a
   * password, gets the current portal token as its password. Without a token there is nothing to
   * log in with: the datasources are reported blocked, and `ct portal token` creates the role.
   */
  private async clientRole(client: ClientRow): Promise<void> {
    const token = await this.o.portalToken(client.id);
    if (!token) return;
    const role = clientRoleName(client.slug);
    const audit = { targetType: 'database_role', targetId: role };
    await this.inTransaction(
      client,
      { kind: 'database role', name: role },
      { ...audit, action: 'client.portal_role.ensure' },
      async (tx) => {
        const before = await clientRoleState(tx, client.slug);
        await ensureClientRole(tx, client.slug);
        const after = await clientRoleState(tx, client.slug);
        const changed = clientRoleChanges(before, after);
        // A role made now has no password; nor may one that existed (roles copied to a new cluster
        // without their passwords). The reading after ensureClientRole also knows a role bound to
        // this client only by it (hasPassword is null for a role not bound here).
        const setPassword = !before.exists || before.hasPassword === false || after.hasPassword === false;
        if (setPassword && !this.dry) await setClientRolePassword(tx, client.slug, token);
        const details = { changed, password_set: setPassword };
        if (!before.exists) {
          return {
            action: 'create',
            detail: 'password from the portal token',
            audit: { ...audit, action: 'client.portal_role.create', details },
          };
        }
        if (changed.length === 0 && !setPassword) return { action: 'nothing to do' };
        const what = changed.map((k) => ROLE_FACTS[k]);
        if (setPassword) what.push('password from the portal token');
        return { action: 'update', detail: what.join(', '), audit: { ...audit, action: 'client.portal_role.update', details } };
      },
    );
  }

  /**
   * Offboarding in the database: the churned client's portal token is revoked (the tenant proxy
   * refuses it even if the client came back), and its role is dropped — or, when another database
   * of the cluster still grants it something and PostgreSQL keeps it, left without LOGIN and
   * password. Either way its last token no longer logs in.
   */
  private async offboardDatabase(client: ClientRow): Promise<void> {
    const tokenAudit = { targetType: 'client', targetId: client.id };
    await this.inTransaction(
      client,
      { kind: 'portal token', name: PORTAL_TOKEN_KIND },
      { ...tokenAudit, action: 'client.portal_token.revoke' },
      async (tx) => {
        // Every version that still works: the current one and any in the grace of a rotation.
        const valid = `client_id = $1 AND kind = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`;
        const { rows } = await tx.query<{ version: number }>(
          this.dry
            ? `SELECT version FROM client_secrets WHERE ${valid}`
            : `UPDATE client_secrets SET revoked_at = now() WHERE ${valid} RETURNING version`,
          [client.id, PORTAL_TOKEN_KIND],
        );
        if (rows.length === 0) return { action: 'nothing to do', detail: 'churned: none that works' };
        const versions = rows.map((r) => r.version).sort((a, b) => a - b);
        return {
          action: 'revoke',
          detail: `churned: version ${versions.join(', ')}`,
          audit: { ...tokenAudit, action: 'client.portal_token.revoke', details: { versions } },
        };
      },
    );

    const role = clientRoleName(client.slug);
    const roleAudit = { targetType: 'database_role', targetId: role };
    const kept = 'kept: another database of the cluster still grants it something';
    await this.inTransaction(
      client,
      { kind: 'database role', name: role },
      { ...roleAudit, action: 'client.portal_role.drop' },
      async (tx) => {
        const before = await clientRoleState(tx, client.slug);
        const outcome = this.dry ? await predictDropClientRole(tx, client.slug) : await dropClientRole(tx, client.slug);
        if (outcome === 'absent') {
          if (before.facts.mappedClient === null) return { action: 'nothing to do', detail: 'churned: no role' };
          // A map row left by a role dropped by hand: dropClientRole removed it.
          return {
            action: 'update',
            detail: 'churned: no role; its map row removed',
            audit: { ...roleAudit, action: 'client.portal_role.drop', details: { outcome } },
          };
        }
        if (outcome === 'dropped') {
          return { action: 'delete', detail: 'churned', audit: { ...roleAudit, action: 'client.portal_role.drop', details: { outcome } } };
        }
        // Kept: it must not log in any more, and loses its rights here.
        let loginRevoked: boolean;
        let removed: string[];
        if (this.dry) {
          loginRevoked = before.canLogin;
          removed = (['mappedClient', 'schemaUsage', 'views'] as const).filter((k) => before.facts[k]).map((k) => ROLE_FACTS[k]);
        } else {
          loginRevoked = await disableClientRoleLogin(tx, client.slug);
          const after = await clientRoleState(tx, client.slug);
          removed = clientRoleChanges(before, after)
            .filter((k) => k !== 'attributes')
            .map((k) => ROLE_FACTS[k]);
        }
        if (!loginRevoked && removed.length === 0) return { action: 'nothing to do', detail: `churned: no login, ${kept}` };
        const what = [
          ...(loginRevoked ? ['LOGIN and password removed'] : []),
          ...(removed.length ? [`removed here: ${removed.join(', ')}`] : []),
        ];
        return {
          action: 'update',
          detail: `churned: ${what.join('; ')} (${kept})`,
          audit: { ...roleAudit, action: 'client.portal_role.disable', details: { outcome, login_revoked: loginRevoked, removed } },
        };
      },
    );
  }

  /** Removes a user from a client org, and deletes it from Grafana when it is in no other org. */
  async removePortalUser(client: ClientRow, orgId: number, userId: number, name: string): Promise<void> {
    await this.change(
      client,
      { kind: 'user', name, action: 'remove', detail: client.status === 'churned' ? 'churned' : undefined },
      { action: 'grafana.org_user.remove', targetType: 'grafana_org', targetId: String(orgId), details: { user_id: userId } },
      () => this.o.grafana.removeOrgUser(orgId, userId),
    );
    const others = this.dry
      ? []
      : await this.o.grafana.userOrgs(userId).catch((err: unknown) => {
          if (err instanceof GrafanaApiError && err.status === 404) return [];
          throw err;
        });
    if (others.length === 0) {
      await this.change(
        client,
        { kind: 'user', name, action: 'delete', detail: this.dry ? 'if it is in no other organisation' : 'in no other organisation' },
        { action: 'grafana.user.delete', targetType: 'grafana_user', targetId: String(userId) },
        () => this.o.grafana.deleteUser(userId),
      );
    }
  }
}

/**
 * Runs org sync (or, with dryRun, only plans it). One sync at a time: a PostgreSQL advisory lock
 * keeps a second one from switching the same Grafana user's org under it.
 */
export async function syncGrafanaOrgs(o: SyncOptions): Promise<SyncResult> {
  requireAdminUser(o.grafana, 'ct grafana sync');
  return withSyncLock(o.pool, async () => {
    const run = new Run(o);
    await run.run();
    return {
      dryRun: o.dryRun === true,
      items: run.items,
      changes: run.items.filter((i) => CHANGES.includes(i.action)).length,
      problems: run.problems,
    };
  });
}

/**
 * Org sync and portal users need a Grafana server admin user: the API document's organisation and
 * admin-user routes accept basic authentication only, and a service account cannot switch org.
 */
export function requireAdminUser(grafana: GrafanaClient, command: string): void {
  if (grafana.opts.auth.kind !== 'basic') {
    throw new UserError(
      `${command} needs a Grafana server admin user (GRAFANA_ADMIN_USER and GRAFANA_ADMIN_PASSWORD), not GRAFANA_TOKEN: ` +
        "the API document's organisation and user routes accept basic authentication only, and a service account cannot switch organisation",
    );
  }
}

/** Holds the org-sync advisory lock while `fn` runs; refuses at once when another holder has it. */
export async function withSyncLock<T>(pool: Pool, fn: () => Promise<T>): Promise<T> {
  const conn = await pool.connect();
  try {
    const { rows } = await conn.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [SYNC_LOCK]);
    if (!rows[0]!.ok) throw new UserError('another ct grafana sync is running: try again when it has finished');
    try {
      return await fn();
    } finally {
      await conn.query('SELECT pg_advisory_unlock(hashtext($1))', [SYNC_LOCK]);
    }
  } finally {
    conn.release();
  }
}

/** The plan as an operator reads it: one line per object, then a summary. */
export function formatSyncResult(r: SyncResult): string {
  const rows = r.items.map((i) => [i.client, i.kind, i.name, i.action + (i.detail ? ` (${i.detail})` : '')]);
  const widths = [0, 1, 2].map((c) => Math.max(0, ...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]!) : cell)).join('  '));
  const verb = r.dryRun
    ? `${r.changes} change${r.changes === 1 ? '' : 's'} planned (dry run: nothing was changed)`
    : `${r.changes} change${r.changes === 1 ? '' : 's'} made`;
  lines.push(r.problems.length ? `${verb}; ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}:` : verb);
  for (const p of r.problems) lines.push(`  ${p}`);
  return `${lines.join('\n')}\n`;
}
