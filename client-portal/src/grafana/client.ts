import { UserError } from '@ct/lib';
import type { GrafanaAuth } from './config';

/**
 * A typed client of the part of Grafana's HTTP API org sync needs. Every call is one that Grafana's
 * published OpenAPI document describes (method, path, query parameters, body fields), and the
 * contract fake in the tests refuses any other.
 *
 * The document describes no per-request organisation selector (no `X-Grafana-Org-Id`), so the
 * routes that act on "the current organisation" (datasources, dashboards, org preferences) run
 * after `switchOrg` (`POST /user/using/{org_id}`), which changes the signed-in user's current org.
 * That is why sync needs a user (basic auth) and why it should be a user dedicated to ct.
 */

export type OrgRole = 'None' | 'Viewer' | 'Editor' | 'Admin';

export interface GrafanaOrg {
  id: number;
  name: string;
}

export interface GrafanaOrgUser {
  orgId: number;
  userId: number;
  login: string;
  email: string;
  name: string;
  role: OrgRole;
  lastSeenAtAge?: string;
}

export interface GrafanaUser {
  id: number;
  login: string;
  email: string;
  name: string;
  orgId: number;
  isGrafanaAdmin: boolean;
}

export interface GrafanaUserOrg {
  orgId: number;
  name: string;
  role: OrgRole;
}

/** The fields of a datasource a create or update sends (AddDataSourceCommand / UpdateDataSourceCommand). */
export interface DatasourceCommand {
  name: string;
  uid: string;
  type: string;
  access: 'proxy' | 'direct';
  url: string;
  user?: string;
  basicAuth?: boolean;
  isDefault?: boolean;
  jsonData: Record<string, unknown>;
  /** Write-only: Grafana never returns it, only `secureJsonFields` naming the keys it holds. */
  secureJsonData?: Record<string, string>;
}

export interface GrafanaDatasource {
  id: number;
  uid: string;
  orgId: number;
  name: string;
  type: string;
  access: string;
  url: string;
  user: string;
  basicAuth: boolean;
  isDefault: boolean;
  jsonData: Record<string, unknown>;
  secureJsonFields: Record<string, boolean>;
  version: number;
  readOnly: boolean;
}

export interface GrafanaDatasourceListItem {
  id: number;
  uid: string;
  name: string;
  type: string;
  url: string;
}

export interface GrafanaDashboard {
  dashboard: Record<string, unknown>;
  meta: { version?: number; url?: string; provisioned?: boolean };
}

export interface OrgPreferences {
  homeDashboardUID?: string;
  theme?: string;
  timezone?: string;
  weekStart?: string;
}

/** A refusal or failure of Grafana's, worded for the operator (ct prints it without a stack). */
export class GrafanaApiError extends UserError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    detail: string,
  ) {
    super(`Grafana ${method} /api${path} answered ${status}: ${detail}`);
    this.name = 'GrafanaApiError';
  }
}

export interface GrafanaClientOptions {
  url: string;
  auth: GrafanaAuth;
  timeoutSeconds?: number;
}

type Query = Record<string, string | number | boolean | Array<string | number> | undefined>;

export class GrafanaClient {
  private readonly base: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;

  constructor(readonly opts: GrafanaClientOptions) {
    this.base = `${opts.url.replace(/\/+$/, '')}/api`;
    this.authorization =
      opts.auth.kind === 'basic'
        ? `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')}`
        : `Bearer ${opts.auth.token}`;
    this.timeoutMs = Math.round((opts.timeoutSeconds ?? 10) * 1000);
  }

  /** The login org sync acts as (null with a token). */
  get login(): string | null {
    return this.opts.auth.kind === 'basic' ? this.opts.auth.user : null;
  }

  private async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown; notFound?: 'null' } = {}): Promise<T> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(one));
    }
    const headers: Record<string, string> = { Authorization: this.authorization, Accept: 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new GrafanaApiError(method, path, 0, `Grafana at ${this.opts.url} is unreachable (${cause})`);
    }
    const text = await res.text();
    let data: unknown = undefined;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (res.status === 404 && opts.notFound === 'null') return null as T;
    if (!res.ok) {
      const message = (data as { message?: unknown } | undefined)?.message;
      throw new GrafanaApiError(method, path, res.status, typeof message === 'string' ? message.slice(0, 300) : res.statusText);
    }
    return data as T;
  }

  // ---- organisations (server admin, basic auth) ------------------------------------------------

  /** Every organisation, page by page. */
  async listOrgs(): Promise<GrafanaOrg[]> {
    const perpage = 500;
    const out: GrafanaOrg[] = [];
    for (let page = 1; ; page++) {
      const batch = await this.request<GrafanaOrg[]>('GET', '/orgs', { query: { perpage, page } });
      out.push(...batch.map((o) => ({ id: o.id, name: o.name })));
      if (batch.length < perpage) return out;
    }
  }

  async orgByName(name: string): Promise<GrafanaOrg | null> {
    const o = await this.request<GrafanaOrg | null>('GET', `/orgs/name/${encodeURIComponent(name)}`, { notFound: 'null' });
    return o && { id: o.id, name: o.name };
  }

  async createOrg(name: string): Promise<number> {
    const r = await this.request<{ orgId: number }>('POST', '/orgs', { body: { name } });
    return r.orgId;
  }

  async renameOrg(orgId: number, name: string): Promise<void> {
    await this.request('PUT', `/orgs/${orgId}`, { body: { name } });
  }

  async deleteOrg(orgId: number): Promise<void> {
    await this.request('DELETE', `/orgs/${orgId}`);
  }

  async orgUsers(orgId: number): Promise<GrafanaOrgUser[]> {
    const rows = await this.request<GrafanaOrgUser[]>('GET', `/orgs/${orgId}/users`);
    return rows.map((u) => ({
      orgId: u.orgId,
      userId: u.userId,
      login: u.login,
      email: u.email,
      name: u.name,
      role: u.role,
      lastSeenAtAge: u.lastSeenAtAge,
    }));
  }

  async addOrgUser(orgId: number, loginOrEmail: string, role: OrgRole): Promise<void> {
    await this.request('POST', `/orgs/${orgId}/users`, { body: { loginOrEmail, role } });
  }

  async setOrgUserRole(orgId: number, userId: number, role: OrgRole): Promise<void> {
    await this.request('PATCH', `/orgs/${orgId}/users/${userId}`, { body: { role } });
  }

  async removeOrgUser(orgId: number, userId: number): Promise<void> {
    await this.request('DELETE', `/orgs/${orgId}/users/${userId}`);
  }

  // ---- users -------------------------------------------------------------------------------------

  async lookupUser(loginOrEmail: string): Promise<GrafanaUser | null> {
    return this.request<GrafanaUser | null>('GET', '/users/lookup', { query: { loginOrEmail }, notFound: 'null' });
  }

  /** The signed-in user (its current org is `orgId`). */
  async signedInUser(): Promise<GrafanaUser> {
    return this.request<GrafanaUser>('GET', '/user');
  }

  /** Creates a user straight into `orgId` (with the role users.auto_assign_org_role gives). */
  async createUser(user: { name: string; email: string; login: string; password: string; orgId: number }): Promise<number> {
    const r = await this.request<{ id: number }>('POST', '/admin/users', { body: user });
    return r.id;
  }

  async deleteUser(userId: number): Promise<void> {
    await this.request('DELETE', `/admin/users/${userId}`);
  }

  async userOrgs(userId: number): Promise<GrafanaUserOrg[]> {
    return this.request<GrafanaUserOrg[]>('GET', `/users/${userId}/orgs`);
  }

  // ---- the current organisation ------------------------------------------------------------------

  /** Makes `orgId` the signed-in user's current organisation: what the routes below act on. */
  async switchOrg(orgId: number): Promise<void> {
    await this.request('POST', `/user/using/${orgId}`);
  }

  async currentOrg(): Promise<GrafanaOrg> {
    const o = await this.request<GrafanaOrg>('GET', '/org');
    return { id: o.id, name: o.name };
  }

  async listDatasources(): Promise<GrafanaDatasourceListItem[]> {
    const rows = await this.request<GrafanaDatasourceListItem[]>('GET', '/datasources');
    return rows.map((d) => ({ id: d.id, uid: d.uid, name: d.name, type: d.type, url: d.url }));
  }

  async datasource(uid: string): Promise<GrafanaDatasource | null> {
    return this.request<GrafanaDatasource | null>('GET', `/datasources/uid/${encodeURIComponent(uid)}`, { notFound: 'null' });
  }

  async createDatasource(cmd: DatasourceCommand): Promise<GrafanaDatasource> {
    const r = await this.request<{ datasource: GrafanaDatasource }>('POST', '/datasources', { body: cmd });
    return r.datasource;
  }

  /** Replaces a datasource's settings; `version` makes Grafana refuse it if someone changed it since it was read. */
  async updateDatasource(uid: string, cmd: DatasourceCommand, version: number): Promise<GrafanaDatasource> {
    const r = await this.request<{ datasource: GrafanaDatasource }>('PUT', `/datasources/uid/${encodeURIComponent(uid)}`, {
      body: { ...cmd, version },
    });
    return r.datasource;
  }

  async deleteDatasource(uid: string): Promise<void> {
    await this.request('DELETE', `/datasources/uid/${encodeURIComponent(uid)}`);
  }

  async dashboard(uid: string): Promise<GrafanaDashboard | null> {
    return this.request<GrafanaDashboard | null>('GET', `/dashboards/uid/${encodeURIComponent(uid)}`, { notFound: 'null' });
  }

  async saveDashboard(dashboard: Record<string, unknown>, message: string): Promise<{ uid: string; version: number }> {
    return this.request<{ uid: string; version: number }>('POST', '/dashboards/db', {
      body: { dashboard, overwrite: true, message, folderUid: '' },
    });
  }

  async orgPreferences(): Promise<OrgPreferences> {
    return this.request<OrgPreferences>('GET', '/org/preferences');
  }

  async setHomeDashboard(uid: string): Promise<void> {
    await this.request('PATCH', '/org/preferences', { body: { homeDashboardUID: uid } });
  }
}
