import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { SyncSettings } from '@ct/client-portal';

/**
 * A contract fake of Grafana's HTTP API, for what cannot run on these machines (Grafana itself).
 *
 * Every request is checked against Grafana's published OpenAPI document
 * (`../shared/contracts/grafana-openapi3.json`): the path must match one of its templated paths
 * (base `/api`), the method must be one that path documents, the authentication scheme one the
 * operation accepts, every query parameter one it declares (typed as declared), and the JSON body
 * valid against its request schema — with objects closed, so a field the document does not name is
 * a violation too. A request that fails any of these is answered with status 599 and recorded as a
 * violation; suites assert there were none. So is a header of Grafana's own (`X-Grafana-*`) that the
 * document does not declare: it describes none, so org-scoped calls must switch the user's org.
 *
 * Behind the contract it keeps state the way Grafana does for what org sync uses: organisations
 * (the creator becomes their Admin), users and their current org, org memberships and roles,
 * datasources (secureJsonData write-only: only `secureJsonFields` comes back, kept across updates),
 * dashboards with versions, and org preferences. Every response body is itself validated against
 * the document's response schema for its status, so the fake cannot drift from it either.
 */

export const GRAFANA_OPENAPI_PATH = path.resolve(__dirname, '..', '..', '..', 'shared', 'contracts', 'grafana-openapi3.json');
export const CONTRACT_VIOLATION_STATUS = 599;

/** `ct grafana sync`'s settings as the compose stack gives them (service names as hosts). */
export const COMPOSE_SYNC_SETTINGS: SyncSettings = {
  tenantProxyUrl: 'http://tenant-proxy:9466',
  dbHost: 'postgres:5432',
  dbName: 'ct',
  dbSslmode: 'disable',
  churnedOrgs: 'keep',
};

type Json = Record<string, unknown>;
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
const METHODS: Method[] = ['get', 'post', 'put', 'patch', 'delete'];

interface Parameter {
  in: 'path' | 'query' | 'header' | 'cookie';
  name: string;
  required?: boolean;
  schema?: Json;
}

interface Operation {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, Json>;
  security?: Array<Record<string, string[]>>;
}

interface OpenApiDocument {
  paths: Record<string, Partial<Record<Method, Operation>>>;
  security: Array<Record<string, string[]>>;
  components: { schemas: Record<string, Json>; responses: Record<string, Json> };
}

export type OrgRole = 'None' | 'Viewer' | 'Editor' | 'Admin';

export interface RecordedRequest {
  method: string;
  /** Path without the `/api` base, as sent (e.g. `/orgs/3/users`). */
  path: string;
  /** The document's templated path it matched (e.g. `/orgs/{org_id}/users`), if any. */
  template: string | null;
  operationId: string | null;
  query: Record<string, string[]>;
  body: unknown;
  status: number;
  /** Why the request is not one the document describes (status 599), or why the fake's answer was not. */
  violation: string | null;
  /** The org the caller was acting in (its current org), for org-scoped operations. */
  orgId: number | null;
}

export interface FakeUser {
  id: number;
  login: string;
  email: string;
  name: string;
  password: string;
  isGrafanaAdmin: boolean;
  /** The user's current org, what org-scoped routes act on. */
  orgId: number;
  createdAt: string;
}

export interface FakeDatasource {
  id: number;
  uid: string;
  orgId: number;
  name: string;
  type: string;
  access: string;
  url: string;
  user: string;
  database: string;
  basicAuth: boolean;
  basicAuthUser: string;
  withCredentials: boolean;
  isDefault: boolean;
  jsonData: Json;
  /** Write-only in Grafana: never returned, only named by secureJsonFields. */
  secureJsonData: Record<string, string>;
  version: number;
  readOnly: boolean;
}

export interface FakeDashboard {
  id: number;
  uid: string;
  orgId: number;
  title: string;
  version: number;
  json: Json;
  created: string;
  updated: string;
}

export interface FakeState {
  orgs: Map<number, { id: number; name: string }>;
  users: Map<number, FakeUser>;
  /** orgId → userId → role */
  members: Map<number, Map<number, OrgRole>>;
  datasources: FakeDatasource[];
  dashboards: FakeDashboard[];
  /** orgId → org preferences */
  preferences: Map<number, { homeDashboardUID: string; theme: string; timezone: string; weekStart: string }>;
  /** Installed app plugins by id: whether enabled, and their jsonData (GET /api/plugins/{id}/settings). */
  apps: Map<string, { name: string; enabled: boolean; jsonData: Json }>;
  /** What GET /api/health reports of Grafana's own database. */
  database: 'ok' | 'failing';
}

export interface GrafanaFakeOptions {
  adminLogin?: string;
  adminPassword?: string;
  /** Service account tokens: token → the one org the account belongs to and its role there. */
  serviceAccounts?: Record<string, { orgId: number; role: OrgRole }>;
  /** users.allow_org_create (false in production): whether users other than server admins may create orgs. */
  allowOrgCreate?: boolean;
  /** users.auto_assign_org_role: the role a user created with an orgId gets there. */
  autoAssignOrgRole?: OrgRole;
}

interface Route {
  template: string;
  segments: string[];
  literals: number;
  item: Partial<Record<Method, Operation>>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

class Violation extends Error {}

interface Caller {
  kind: 'basic' | 'api_key';
  user: FakeUser | null;
  /** Service account's org (api_key) or the user's current org. */
  orgId: number;
  /** The org role a service account has; users' roles come from memberships. */
  role: OrgRole | null;
}

interface Ctx {
  caller: Caller;
  path: Record<string, string | number>;
  query: Record<string, unknown>;
  body: Json;
}

type Handler = (ctx: Ctx) => { status?: number; body: unknown };

const ROLE_RANK: Record<OrgRole, number> = { None: 0, Viewer: 1, Editor: 2, Admin: 3 };

/** Closes every object schema that lists its properties, so unknown request fields are violations. */
function closeObjects(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closeObjects);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) out[k] = k === 'properties' ? mapValues(v as Json, closeObjects) : closeObjects(v);
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

function mapValues(o: Json, f: (v: unknown) => unknown): Json {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));
}

/** `#/components/...` refs of an inline schema, pointed at the registered document `id`. */
function retarget(schema: Json, id: string): Json {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${id}#/components/`)) as Json;
}

export class ContractValidator {
  readonly doc: OpenApiDocument;
  private readonly ajv: Ajv;
  private readonly routes: Route[];
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(file = GRAFANA_OPENAPI_PATH) {
    this.doc = JSON.parse(readFileSync(file, 'utf8')) as OpenApiDocument;
    this.ajv = new Ajv({ strict: false, allErrors: false });
    addFormats(this.ajv);
    // Go's numeric formats and Grafana's own: the type already says what matters.
    for (const f of ['int64', 'int32', 'uint8', 'uint16', 'uint32', 'uint64'])
      this.ajv.addFormat(f, { type: 'number', validate: Number.isInteger });
    for (const f of ['float', 'double']) this.ajv.addFormat(f, { type: 'number', validate: () => true });
    this.ajv.addFormat('table', () => true);
    this.ajv.addSchema({ $id: 'request.json', components: { schemas: closeObjects(this.doc.components.schemas) } });
    this.ajv.addSchema({ $id: 'response.json', components: { schemas: this.doc.components.schemas } });
    this.routes = Object.entries(this.doc.paths).map(([template, item]) => {
      const segments = template.split('/').slice(1);
      return { template, segments, literals: segments.filter((s) => !s.startsWith('{')).length, item };
    });
  }

  /** The documented path a request path matches: literal segments win over templated ones. */
  match(pathname: string): { route: Route; params: Record<string, string> } | null {
    const parts = pathname.split('/').slice(1);
    let best: { route: Route; params: Record<string, string> } | null = null;
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = route.segments[i]!;
        const part = parts[i]!;
        if (seg.startsWith('{')) {
          if (part === '') ok = false;
          else params[seg.slice(1, -1)] = decodeURIComponent(part);
        } else ok = seg === part;
      }
      if (!ok) continue;
      if (!best || route.literals > best.route.literals) best = { route, params };
    }
    return best;
  }

  private compile(key: string, schema: Json): ValidateFunction {
    let fn = this.cache.get(key);
    if (!fn) {
      fn = this.ajv.compile(schema);
      this.cache.set(key, fn);
    }
    return fn;
  }

  private check(key: string, schema: Json, value: unknown, what: string): void {
    const fn = this.compile(key, schema);
    if (!fn(value)) {
      const e = fn.errors?.[0];
      const where = e?.instancePath || '(root)';
      const extra = e?.params && 'additionalProperty' in e.params ? ` '${String(e.params.additionalProperty)}'` : '';
      throw new Violation(`${what}: ${where} ${e?.message ?? 'is invalid'}${extra}`);
    }
  }

  /** Typed value of a path or query parameter, as the document declares it. */
  private coerce(values: string[], schema: Json | undefined, name: string, where: string): unknown {
    const type = schema?.type;
    const one = (v: string, t: unknown): unknown => {
      if (t === 'integer') {
        if (!/^-?\d+$/.test(v)) throw new Violation(`${where} parameter ${name} must be an integer, got '${v}'`);
        return Number(v);
      }
      if (t === 'number') {
        if (v.trim() === '' || Number.isNaN(Number(v))) throw new Violation(`${where} parameter ${name} must be a number, got '${v}'`);
        return Number(v);
      }
      if (t === 'boolean') {
        if (v !== 'true' && v !== 'false') throw new Violation(`${where} parameter ${name} must be true or false, got '${v}'`);
        return v === 'true';
      }
      return v;
    };
    if (type === 'array') return values.map((v) => one(v, (schema?.items as Json | undefined)?.type));
    if (values.length > 1) throw new Violation(`${where} parameter ${name} is given ${values.length} times but is not an array`);
    return one(values[0]!, type);
  }

  /**
   * Checks a request against the document; returns the operation and typed parameters, or throws
   * a Violation naming what the document does not describe.
   */
  validateRequest(req: {
    method: string;
    pathname: string;
    query: URLSearchParams;
    headers: Record<string, string | string[] | undefined>;
    rawBody: string;
    authScheme: 'basic' | 'api_key' | null;
  }): { template: string; op: Operation; path: Record<string, string | number>; query: Record<string, unknown>; body: unknown } {
    if (!req.pathname.startsWith('/api/')) throw new Violation(`path ${req.pathname} is outside the API's base path /api`);
    const apiPath = req.pathname.slice('/api'.length);
    const matched = this.match(apiPath);
    if (!matched) throw new Violation(`${req.method} ${apiPath}: no such path in the document`);
    const method = req.method.toLowerCase() as Method;
    const op = METHODS.includes(method) ? matched.route.item[method] : undefined;
    if (!op) {
      const allowed = METHODS.filter((m) => matched.route.item[m]).map((m) => m.toUpperCase());
      throw new Violation(`${req.method} ${matched.route.template}: method not documented (the document has ${allowed.join(', ')})`);
    }
    const name = `${req.method} ${matched.route.template} (${op.operationId})`;
    const params = op.parameters ?? [];

    // Authentication: the scheme used must be one the operation accepts.
    const security = op.security ?? this.doc.security;
    if (req.authScheme && !security.some((s) => req.authScheme! in s)) {
      throw new Violation(
        `${name} accepts ${security.map((s) => Object.keys(s).join('+')).join(' or ')} authentication, not ${req.authScheme}`,
      );
    }

    // Grafana's own headers must be declared by the operation (the document declares none).
    for (const header of Object.keys(req.headers)) {
      if (/^x-grafana-/i.test(header) && !params.some((p) => p.in === 'header' && p.name.toLowerCase() === header.toLowerCase())) {
        throw new Violation(`${name} does not document header ${header}`);
      }
    }

    const pathValues: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(matched.params)) {
      const p = params.find((x) => x.in === 'path' && x.name === k);
      if (!p) throw new Violation(`${name}: path parameter ${k} is not declared`);
      pathValues[k] = this.coerce([v], p.schema, k, 'path') as string | number;
      if (p.schema)
        this.check(`${op.operationId}:path:${k}`, retarget(p.schema, 'request.json'), pathValues[k], `${name} path parameter ${k}`);
    }

    const queryValues: Record<string, unknown> = {};
    for (const key of new Set(req.query.keys())) {
      const p = params.find((x) => x.in === 'query' && x.name === key);
      if (!p) throw new Violation(`${name} has no query parameter '${key}'`);
      queryValues[key] = this.coerce(req.query.getAll(key), p.schema, key, 'query');
      if (p.schema)
        this.check(
          `${op.operationId}:query:${key}`,
          retarget(p.schema, 'request.json'),
          queryValues[key],
          `${name} query parameter ${key}`,
        );
    }
    for (const p of params) {
      if (p.required && p.in === 'query' && !req.query.has(p.name)) throw new Violation(`${name} requires query parameter ${p.name}`);
    }

    let body: unknown = undefined;
    const hasBody = req.rawBody.length > 0;
    if (!op.requestBody) {
      if (hasBody) throw new Violation(`${name} takes no request body`);
    } else {
      if (!hasBody) {
        if (op.requestBody.required) throw new Violation(`${name} requires a JSON body`);
      } else {
        const type = String(req.headers['content-type'] ?? '')
          .split(';')[0]!
          .trim();
        const media = op.requestBody.content[type];
        if (!media)
          throw new Violation(`${name} takes ${Object.keys(op.requestBody.content).join(', ')}, not '${type || 'no content type'}'`);
        try {
          body = JSON.parse(req.rawBody);
        } catch {
          throw new Violation(`${name}: the body is not JSON`);
        }
        this.check(`${op.operationId}:body`, retarget(media.schema, 'request.json'), body, `${name} body`);
      }
    }
    return { template: matched.route.template, op, path: pathValues, query: queryValues, body };
  }

  /** Checks a response the fake is about to send against the document (a bug in the fake if not). */
  validateResponse(op: Operation, status: number, body: unknown): string | null {
    let response = op.responses[String(status)];
    if (!response) {
      if (status >= 400) return null; // an error status Grafana sends that the operation does not list
      return `status ${status} is not documented for ${op.operationId}`;
    }
    if (typeof response.$ref === 'string') {
      response = this.doc.components.responses[response.$ref.split('/').pop()!]!;
    }
    const schema = (response.content as Record<string, { schema: Json }> | undefined)?.['application/json']?.schema;
    if (!schema) return null;
    const fn = this.compile(`${op.operationId}:response:${status}`, retarget(schema, 'response.json'));
    if (!fn(body)) return `response ${status} of ${op.operationId}: ${fn.errors?.[0]?.instancePath || '(root)'} ${fn.errors?.[0]?.message}`;
    return null;
  }
}

let sharedValidator: ContractValidator | null = null;
/** The compiled document, shared by every fake in a test file (compiling it takes a moment). */
export function contractValidator(): ContractValidator {
  sharedValidator ??= new ContractValidator();
  return sharedValidator;
}

function slugify(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * Routes Grafana serves that its published OpenAPI document does not describe, with the shape of
 * their answers from Grafana's own documentation and source: GET /api/health (HTTP API reference,
 * "Health API": commit, database "ok" or "failing" with 503, version) and
 * GET /api/plugins/{pluginId}/settings (pkg/api/dtos/plugins.go PluginSetting; 404 for a plugin
 * that is not installed, 401 without credentials). The fake's answers are checked against these.
 */
export const OUTSIDE_DOCUMENT: Record<string, { check(status: number, body: unknown): string | null }> = {
  'GET /api/health': {
    check: (status, body) => {
      const b = body as Json;
      if (![200, 503].includes(status)) return `status ${status}`;
      if (typeof b.database !== 'string' || typeof b.version !== 'string' || typeof b.commit !== 'string') return 'health fields';
      return null;
    },
  },
  'GET /api/plugins/{pluginId}/settings': {
    check: (status, body) => {
      const b = body as Json;
      if (status !== 200)
        return [401, 404, CONTRACT_VIOLATION_STATUS].includes(status) && typeof b.message === 'string' ? null : `status ${status}`;
      for (const k of ['name', 'type', 'id', 'module', 'baseUrl']) if (typeof b[k] !== 'string') return `${k} must be a string`;
      if (typeof b.enabled !== 'boolean' || typeof b.pinned !== 'boolean') return 'enabled and pinned must be booleans';
      if (typeof b.jsonData !== 'object' || b.jsonData === null) return 'jsonData must be an object';
      return null;
    },
  },
};

export class GrafanaContractFake {
  readonly requests: RecordedRequest[] = [];
  readonly state: FakeState;
  url = '';
  private server: Server | null = null;
  private nextId = { org: 2, user: 2, datasource: 1, dashboard: 1 };
  private readonly handlers: Record<string, Handler>;
  readonly adminLogin: string;
  readonly adminPassword: string;

  constructor(
    private readonly opts: GrafanaFakeOptions = {},
    private readonly validator = contractValidator(),
  ) {
    this.adminLogin = opts.adminLogin ?? 'admin';
    this.adminPassword = opts.adminPassword ?? 'admin-password-for-tests';
    const now = new Date().toISOString();
    this.state = {
      orgs: new Map([[1, { id: 1, name: 'Main Org.' }]]),
      users: new Map([
        [
          1,
          {
            id: 1,
            login: this.adminLogin,
            email: 'admin@localhost',
            name: '',
            password: this.adminPassword,
            isGrafanaAdmin: true,
            orgId: 1,
            createdAt: now,
          },
        ],
      ]),
      members: new Map([[1, new Map<number, OrgRole>([[1, 'Admin']])]]),
      datasources: [],
      dashboards: [],
      preferences: new Map(),
      apps: new Map(),
      database: 'ok',
    };
    this.handlers = this.buildHandlers();
  }

  static async start(opts: GrafanaFakeOptions = {}): Promise<GrafanaContractFake> {
    const fake = new GrafanaContractFake(opts);
    await fake.listen();
    return fake;
  }

  async listen(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests the document does not describe (answered 599), and answers of the fake it does not. */
  violations(): RecordedRequest[] {
    return this.requests.filter((r) => r.violation !== null);
  }

  /** Requests that may change state (anything but GET), including the org switch. */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  // ---- state helpers, for tests to arrange and inspect ----------------------------------------

  orgByName(name: string): { id: number; name: string } | undefined {
    return [...this.state.orgs.values()].find((o) => o.name === name);
  }

  orgMembers(orgId: number): Array<{ user: FakeUser; role: OrgRole }> {
    return [...(this.state.members.get(orgId) ?? new Map<number, OrgRole>())].map(([id, role]) => ({
      user: this.state.users.get(id)!,
      role,
    }));
  }

  datasourcesOf(orgId: number): FakeDatasource[] {
    return this.state.datasources.filter((d) => d.orgId === orgId);
  }

  dashboardsOf(orgId: number): FakeDashboard[] {
    return this.state.dashboards.filter((d) => d.orgId === orgId);
  }

  userByLogin(loginOrEmail: string): FakeUser | undefined {
    const k = loginOrEmail.toLowerCase();
    return [...this.state.users.values()].find((u) => u.login.toLowerCase() === k || u.email.toLowerCase() === k);
  }

  /** Signs in as a user with its password (what a client's browser would do), for permission checks. */
  authenticate(login: string, password: string): FakeUser | null {
    const u = this.userByLogin(login);
    return u && u.password === password ? u : null;
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname,
      template: null,
      operationId: null,
      query: {},
      body: undefined,
      status: 0,
      violation: null,
      orgId: null,
    };
    for (const k of new Set(url.searchParams.keys())) record.query[k] = url.searchParams.getAll(k);
    try {
      record.body = rawBody ? JSON.parse(rawBody) : undefined;
    } catch {
      record.body = rawBody;
    }
    this.requests.push(record);
    const send = (status: number, body: unknown) => {
      record.status = status;
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };

    const auth = req.headers.authorization ?? '';
    const outside = this.outsideDocument(record.method, url.pathname, auth);
    if (outside) {
      record.template = outside.template;
      record.operationId = outside.template;
      const problem = OUTSIDE_DOCUMENT[outside.template]!.check(outside.status, outside.body);
      if (problem) {
        record.violation = `the fake's answer is not per Grafana's documentation: ${problem}`;
        return send(CONTRACT_VIOLATION_STATUS, { message: record.violation });
      }
      return send(outside.status, outside.body);
    }
    const authScheme = /^basic /i.test(auth) ? 'basic' : /^bearer /i.test(auth) ? 'api_key' : null;
    let checked;
    try {
      checked = this.validator.validateRequest({
        method: record.method,
        pathname: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        rawBody,
        authScheme,
      });
    } catch (err) {
      if (!(err instanceof Violation)) throw err;
      record.violation = err.message;
      return send(CONTRACT_VIOLATION_STATUS, { message: `contract violation: ${err.message}` });
    }
    record.template = checked.template;
    record.operationId = checked.op.operationId;

    let status = 200;
    let body: unknown;
    try {
      const caller = this.authenticateRequest(auth);
      record.orgId = caller.orgId;
      const handler = this.handlers[checked.op.operationId];
      if (!handler) {
        record.violation = `${checked.op.operationId} is documented but not modelled by the fake`;
        return send(CONTRACT_VIOLATION_STATUS, { message: record.violation });
      }
      const out = handler({ caller, path: checked.path, query: checked.query, body: (checked.body ?? {}) as Json });
      status = out.status ?? 200;
      body = out.body;
    } catch (err) {
      if (!(err instanceof HttpError)) {
        record.violation = `the fake failed: ${err instanceof Error ? err.message : String(err)}`;
        return send(CONTRACT_VIOLATION_STATUS, { message: record.violation });
      }
      status = err.status;
      body = { message: err.message };
    }
    const problem = this.validator.validateResponse(checked.op, status, body);
    if (problem) {
      record.violation = `the fake's answer is not per the document: ${problem}`;
      return send(CONTRACT_VIOLATION_STATUS, { message: record.violation });
    }
    send(status, body);
  }

  /**
   * The two routes Grafana serves that its OpenAPI document leaves out (see OUTSIDE_DOCUMENT);
   * null for every other request, which the document decides.
   */
  private outsideDocument(method: string, pathname: string, auth: string): { template: string; status: number; body: unknown } | null {
    if (method === 'GET' && pathname === '/api/health') {
      const ok = this.state.database === 'ok';
      return {
        template: 'GET /api/health',
        status: ok ? 200 : 503,
        body: { commit: 'fake', database: this.state.database, version: '12.4.2' },
      };
    }
    const m = /^\/api\/plugins\/([^/]+)\/settings$/.exec(pathname);
    if (!m) return null;
    const template = 'GET /api/plugins/{pluginId}/settings';
    if (method !== 'GET') return { template, status: CONTRACT_VIOLATION_STATUS, body: { message: `${method} is not modelled` } };
    try {
      this.authenticateRequest(auth);
    } catch {
      return { template, status: 401, body: { message: 'Unauthorized' } };
    }
    const id = decodeURIComponent(m[1]!);
    const app = this.state.apps.get(id);
    if (!app) return { template, status: 404, body: { message: 'Plugin not found, no installed plugin with that id' } };
    return {
      template,
      status: 200,
      body: {
        name: app.name,
        type: 'app',
        id,
        enabled: app.enabled,
        pinned: app.enabled,
        autoEnabled: false,
        module: `public/plugins/${id}/module.js`,
        baseUrl: `public/plugins/${id}`,
        info: { author: { name: 'CT Platform' }, description: '', version: '1.0.0', updated: '' },
        includes: [],
        dependencies: { grafanaDependency: '>=12.4.0', grafanaVersion: '*', plugins: [] },
        jsonData: app.jsonData,
        secureJsonFields: {},
      },
    };
  }

  private authenticateRequest(auth: string): Caller {
    const basic = /^basic (.+)$/i.exec(auth);
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const user = i > 0 ? this.authenticate(decoded.slice(0, i), decoded.slice(i + 1)) : null;
      if (!user) throw new HttpError(401, 'Invalid username or password');
      return { kind: 'basic', user, orgId: user.orgId, role: null };
    }
    const bearer = /^bearer (.+)$/i.exec(auth);
    if (bearer) {
      const sa = this.opts.serviceAccounts?.[bearer[1]!];
      if (!sa) throw new HttpError(401, 'Invalid API key');
      return { kind: 'api_key', user: null, orgId: sa.orgId, role: sa.role };
    }
    throw new HttpError(401, 'Unauthorized');
  }

  // ---- permissions -----------------------------------------------------------------------------

  private roleIn(caller: Caller, orgId: number): OrgRole {
    if (caller.kind === 'api_key') return caller.orgId === orgId ? caller.role! : 'None';
    return this.state.members.get(orgId)?.get(caller.user!.id) ?? 'None';
  }

  private requireRole(caller: Caller, min: OrgRole): number {
    if (ROLE_RANK[this.roleIn(caller, caller.orgId)] < ROLE_RANK[min]) throw new HttpError(403, 'Permission denied');
    return caller.orgId;
  }

  private requireServerAdmin(caller: Caller): void {
    if (!caller.user?.isGrafanaAdmin) throw new HttpError(403, 'Permission denied');
  }

  // ---- operations ------------------------------------------------------------------------------

  private orgUserDto(orgId: number, userId: number, role: OrgRole): Json {
    const u = this.state.users.get(userId)!;
    return {
      orgId,
      userId,
      login: u.login,
      email: u.email,
      name: u.name,
      role,
      avatarUrl: '/avatar/0',
      isDisabled: false,
      lastSeenAt: u.createdAt,
      lastSeenAtAge: '10 years',
      authLabels: [],
      isExternallySynced: false,
    };
  }

  private userProfile(u: FakeUser): Json {
    return {
      id: u.id,
      login: u.login,
      email: u.email,
      name: u.name,
      orgId: u.orgId,
      isGrafanaAdmin: u.isGrafanaAdmin,
      isDisabled: false,
      isExternal: false,
      isExternallySynced: false,
      isGrafanaAdminExternallySynced: false,
      authLabels: [],
      theme: '',
      avatarUrl: '/avatar/0',
      createdAt: u.createdAt,
      updatedAt: u.createdAt,
    };
  }

  private datasourceDto(d: FakeDatasource): Json {
    return {
      id: d.id,
      uid: d.uid,
      orgId: d.orgId,
      name: d.name,
      type: d.type,
      typeLogoUrl: '',
      access: d.access,
      url: d.url,
      user: d.user,
      database: d.database,
      basicAuth: d.basicAuth,
      basicAuthUser: d.basicAuthUser,
      withCredentials: d.withCredentials,
      isDefault: d.isDefault,
      jsonData: d.jsonData,
      secureJsonFields: Object.fromEntries(Object.keys(d.secureJsonData).map((k) => [k, true])),
      version: d.version,
      readOnly: d.readOnly,
    };
  }

  private findUser(loginOrEmail: string): FakeUser {
    const u = this.userByLogin(loginOrEmail);
    if (!u) throw new HttpError(404, 'user not found');
    return u;
  }

  private memberMap(orgId: number): Map<number, OrgRole> {
    let m = this.state.members.get(orgId);
    if (!m) {
      m = new Map();
      this.state.members.set(orgId, m);
    }
    return m;
  }

  private org(orgId: number): { id: number; name: string } {
    const o = this.state.orgs.get(orgId);
    if (!o) throw new HttpError(404, 'Organization not found');
    return o;
  }

  private removeMember(orgId: number, userId: number): void {
    const m = this.memberMap(orgId);
    if (!m.has(userId)) throw new HttpError(404, 'User not found in organization');
    if (m.get(userId) === 'Admin' && [...m.values()].filter((r) => r === 'Admin').length === 1) {
      throw new HttpError(400, 'Cannot remove last organization admin');
    }
    m.delete(userId);
    const u = this.state.users.get(userId)!;
    if (u.orgId === orgId) {
      // Grafana moves the user to another org it belongs to, or to none.
      u.orgId = [...this.state.members].find(([, mm]) => mm.has(userId))?.[0] ?? 0;
    }
  }

  private datasourceBody(body: Json, orgId: number, existing?: FakeDatasource): Omit<FakeDatasource, 'id' | 'version'> {
    for (const f of ['name', 'type', 'access'] as const) {
      if (typeof body[f] !== 'string' || body[f] === '') throw new HttpError(400, `Validation error: ${f} is required`);
    }
    const secure = { ...(existing?.secureJsonData ?? {}), ...((body.secureJsonData as Record<string, string> | undefined) ?? {}) };
    return {
      uid: (body.uid as string | undefined) || existing?.uid || `ds${this.nextId.datasource}`,
      orgId,
      name: body.name as string,
      type: body.type as string,
      access: body.access as string,
      url: (body.url as string | undefined) ?? '',
      user: (body.user as string | undefined) ?? '',
      database: (body.database as string | undefined) ?? '',
      basicAuth: (body.basicAuth as boolean | undefined) ?? false,
      basicAuthUser: (body.basicAuthUser as string | undefined) ?? '',
      withCredentials: (body.withCredentials as boolean | undefined) ?? false,
      isDefault: (body.isDefault as boolean | undefined) ?? false,
      jsonData: (body.jsonData as Json | undefined) ?? {},
      secureJsonData: secure,
      readOnly: false,
    };
  }

  private buildHandlers(): Record<string, Handler> {
    const s = this.state;
    return {
      // organisations (server admin)
      searchOrgs: ({ caller, query }) => {
        this.requireServerAdmin(caller);
        const perpage = (query.perpage as number | undefined) ?? 1000;
        const page = (query.page as number | undefined) ?? 1;
        let orgs = [...s.orgs.values()].sort((a, b) => a.name.localeCompare(b.name));
        if (query.name !== undefined) orgs = orgs.filter((o) => o.name === query.name);
        if (query.query !== undefined) orgs = orgs.filter((o) => o.name.toLowerCase().includes(String(query.query).toLowerCase()));
        return { body: orgs.slice((page - 1) * perpage, page * perpage).map((o) => ({ id: o.id, name: o.name })) };
      },
      getOrgByName: ({ caller, path }) => {
        this.requireServerAdmin(caller);
        const o = this.orgByName(String(path.org_name));
        if (!o) throw new HttpError(404, 'Organization not found');
        return { body: { id: o.id, name: o.name, address: { address1: '', address2: '', city: '', zipCode: '', state: '', country: '' } } };
      },
      getOrgByID: ({ caller, path }) => {
        this.requireServerAdmin(caller);
        const o = this.org(path.org_id as number);
        return { body: { id: o.id, name: o.name, address: { address1: '', address2: '', city: '', zipCode: '', state: '', country: '' } } };
      },
      createOrg: ({ caller, body }) => {
        if (!caller.user) throw new HttpError(403, 'Permission denied');
        // As Grafana: with users.allow_org_create off only a server admin creates organisations.
        if (!this.opts.allowOrgCreate && !caller.user.isGrafanaAdmin) throw new HttpError(403, 'Access denied');
        const name = String(body.name ?? '').trim();
        if (!name) throw new HttpError(400, 'Organization name is required');
        if (this.orgByName(name)) throw new HttpError(409, 'Organization name taken');
        const id = this.nextId.org++;
        s.orgs.set(id, { id, name });
        this.memberMap(id).set(caller.user.id, 'Admin');
        return { body: { orgId: id, message: 'Organization created' } };
      },
      updateOrg: ({ caller, path, body }) => {
        this.requireServerAdmin(caller);
        const o = this.org(path.org_id as number);
        const name = String(body.name ?? '').trim();
        if (!name) throw new HttpError(400, 'Organization name is required');
        const other = this.orgByName(name);
        if (other && other.id !== o.id) throw new HttpError(409, 'Organization name taken');
        o.name = name;
        return { body: { message: 'Organization updated' } };
      },
      deleteOrgByID: ({ caller, path }) => {
        this.requireServerAdmin(caller);
        const id = path.org_id as number;
        this.org(id);
        if (caller.user!.orgId === id) throw new HttpError(400, 'Can not delete org for current user');
        s.orgs.delete(id);
        for (const userId of this.state.members.get(id)?.keys() ?? []) {
          const u = s.users.get(userId)!;
          if (u.orgId === id) u.orgId = 0;
        }
        s.members.delete(id);
        s.datasources = s.datasources.filter((d) => d.orgId !== id);
        s.dashboards = s.dashboards.filter((d) => d.orgId !== id);
        s.preferences.delete(id);
        return { body: { message: 'Organization deleted' } };
      },
      getOrgUsers: ({ caller, path }) => {
        this.requireServerAdmin(caller);
        const id = path.org_id as number;
        this.org(id);
        return { body: [...this.memberMap(id)].map(([userId, role]) => this.orgUserDto(id, userId, role)) };
      },
      addOrgUser: ({ caller, path, body }) => {
        this.requireServerAdmin(caller);
        const id = path.org_id as number;
        this.org(id);
        const u = this.findUser(String(body.loginOrEmail ?? ''));
        const m = this.memberMap(id);
        if (m.has(u.id)) throw new HttpError(409, 'User is already member of this organization');
        m.set(u.id, (body.role as OrgRole | undefined) ?? 'Viewer');
        return { body: { message: 'User added to organization' } };
      },
      updateOrgUser: ({ caller, path, body }) => {
        this.requireServerAdmin(caller);
        const id = path.org_id as number;
        const m = this.memberMap(id);
        const userId = path.user_id as number;
        if (!m.has(userId)) throw new HttpError(404, 'User not found in organization');
        const role = body.role as OrgRole | undefined;
        if (!role) throw new HttpError(400, 'role is required');
        if (m.get(userId) === 'Admin' && role !== 'Admin' && [...m.values()].filter((r) => r === 'Admin').length === 1) {
          throw new HttpError(400, 'Cannot change role so that there is no organization admin left');
        }
        m.set(userId, role);
        return { body: { message: 'Organization user updated' } };
      },
      removeOrgUser: ({ caller, path }) => {
        this.requireServerAdmin(caller);
        this.org(path.org_id as number);
        this.removeMember(path.org_id as number, path.user_id as number);
        return { body: { message: 'User removed from organization' } };
      },

      // users
      adminCreateUser: ({ caller, body }) => {
        this.requireServerAdmin(caller);
        const login = String(body.login || body.email || '');
        const email = String(body.email || body.login || '');
        if (!login) throw new HttpError(400, 'login or email is required');
        const password = String(body.password ?? '');
        if (password.length < 4) throw new HttpError(400, 'Password is missing or too short');
        if (this.userByLogin(login) || this.userByLogin(email)) throw new HttpError(412, 'User with same email or login already exists');
        const orgId = (body.orgId as number | undefined) ?? 1;
        if (!s.orgs.has(orgId)) throw new HttpError(400, 'organization not found');
        const id = this.nextId.user++;
        s.users.set(id, {
          id,
          login,
          email,
          name: String(body.name ?? ''),
          password,
          isGrafanaAdmin: false,
          orgId,
          createdAt: new Date().toISOString(),
        });
        this.memberMap(orgId).set(id, this.opts.autoAssignOrgRole ?? 'Viewer');
        return { body: { id, message: 'User created' } };
      },
      adminDeleteUser: ({ caller, path }) => {
        this.requireServerAdmin(caller);
        const id = path.user_id as number;
        if (!s.users.has(id)) throw new HttpError(404, 'user not found');
        s.users.delete(id);
        for (const m of s.members.values()) m.delete(id);
        return { body: { message: 'User deleted' } };
      },
      adminUpdateUserPassword: ({ caller, path, body }) => {
        this.requireServerAdmin(caller);
        const u = s.users.get(path.user_id as number);
        if (!u) throw new HttpError(404, 'user not found');
        const password = String(body.password ?? '');
        if (password.length < 4) throw new HttpError(400, 'New password is too short');
        u.password = password;
        return { body: { message: 'User password updated' } };
      },
      getUserByLoginOrEmail: ({ caller, query }) => {
        this.requireServerAdmin(caller);
        return { body: this.userProfile(this.findUser(String(query.loginOrEmail))) };
      },
      getUserByID: ({ caller, path }) => {
        this.requireServerAdmin(caller);
        const u = s.users.get(path.user_id as number);
        if (!u) throw new HttpError(404, 'user not found');
        return { body: this.userProfile(u) };
      },
      getUserOrgList: ({ caller, path }) => {
        this.requireServerAdmin(caller);
        const id = path.user_id as number;
        if (!s.users.has(id)) throw new HttpError(404, 'user not found');
        return {
          body: [...s.members]
            .filter(([, m]) => m.has(id))
            .map(([orgId, m]) => ({ orgId, name: s.orgs.get(orgId)!.name, role: m.get(id)! })),
        };
      },
      getSignedInUser: ({ caller }) => {
        if (!caller.user) throw new HttpError(404, 'a service account is not a user');
        return { body: this.userProfile(caller.user) };
      },
      userSetUsingOrg: ({ caller, path }) => {
        if (!caller.user) throw new HttpError(403, 'a service account cannot switch organization');
        const id = path.org_id as number;
        if (!this.state.members.get(id)?.has(caller.user.id)) throw new HttpError(401, 'Not a valid organization');
        caller.user.orgId = id;
        return { body: { message: 'Active organization changed' } };
      },
      getCurrentOrg: ({ caller }) => {
        this.requireRole(caller, 'Viewer');
        const o = this.org(caller.orgId);
        return { body: { id: o.id, name: o.name, address: { address1: '', address2: '', city: '', zipCode: '', state: '', country: '' } } };
      },
      getOrgUsersForCurrentOrg: ({ caller }) => {
        const orgId = this.requireRole(caller, 'Admin');
        return { body: [...this.memberMap(orgId)].map(([userId, role]) => this.orgUserDto(orgId, userId, role)) };
      },

      // datasources (current org)
      getDataSources: ({ caller }) => {
        const orgId = this.requireRole(caller, 'Admin');
        return {
          body: s.datasources
            .filter((d) => d.orgId === orgId)
            .map((d) => {
              const dto = this.datasourceDto(d);
              delete dto.secureJsonFields;
              delete dto.version;
              delete dto.withCredentials;
              delete dto.basicAuthUser;
              return { ...dto, typeName: d.type };
            }),
        };
      },
      getDataSourceByUID: ({ caller, path }) => {
        const orgId = this.requireRole(caller, 'Admin');
        const d = s.datasources.find((x) => x.orgId === orgId && x.uid === path.uid);
        if (!d) throw new HttpError(404, 'Data source not found');
        return { body: this.datasourceDto(d) };
      },
      addDataSource: ({ caller, body }) => {
        const orgId = this.requireRole(caller, 'Admin');
        const fields = this.datasourceBody(body, orgId);
        const mine = s.datasources.filter((d) => d.orgId === orgId);
        if (mine.some((d) => d.name === fields.name)) throw new HttpError(409, 'data source with the same name already exists');
        if (mine.some((d) => d.uid === fields.uid)) throw new HttpError(409, 'data source with the same uid already exists');
        const d: FakeDatasource = { ...fields, id: this.nextId.datasource++, version: 1 };
        s.datasources.push(d);
        return { body: { id: d.id, name: d.name, message: 'Datasource added', datasource: this.datasourceDto(d) } };
      },
      updateDataSourceByUID: ({ caller, path, body }) => {
        const orgId = this.requireRole(caller, 'Admin');
        const d = s.datasources.find((x) => x.orgId === orgId && x.uid === path.uid);
        if (!d) throw new HttpError(404, 'Data source not found');
        if (d.readOnly) throw new HttpError(403, 'Cannot update read-only data source');
        if (body.version !== undefined && body.version !== d.version) {
          throw new HttpError(409, 'Datasource has already been updated by someone else. Please reload and try again');
        }
        const fields = this.datasourceBody({ ...body, uid: d.uid }, orgId, d);
        if (s.datasources.some((x) => x.orgId === orgId && x !== d && x.name === fields.name)) {
          throw new HttpError(409, 'data source with the same name already exists');
        }
        Object.assign(d, fields, { version: d.version + 1 });
        return { body: { id: d.id, name: d.name, message: 'Datasource updated', datasource: this.datasourceDto(d) } };
      },
      deleteDataSourceByUID: ({ caller, path }) => {
        const orgId = this.requireRole(caller, 'Admin');
        const i = s.datasources.findIndex((x) => x.orgId === orgId && x.uid === path.uid);
        if (i < 0) throw new HttpError(404, 'Data source not found');
        s.datasources.splice(i, 1);
        return { body: { message: 'Data source deleted' } };
      },

      // dashboards (current org)
      postDashboard: ({ caller, body }) => {
        const orgId = this.requireRole(caller, 'Editor');
        const json = body.dashboard as Json | undefined;
        if (!json || typeof json.title !== 'string' || !json.title.trim()) throw new HttpError(400, 'Dashboard title cannot be empty');
        const uid = typeof json.uid === 'string' && json.uid ? json.uid : `d${this.nextId.dashboard}`;
        const existing = s.dashboards.find((d) => d.orgId === orgId && d.uid === uid);
        const now = new Date().toISOString();
        if (existing && !body.overwrite) {
          if (json.version !== existing.version) throw new HttpError(412, 'version-mismatch');
        }
        const dash: FakeDashboard = existing ?? {
          id: this.nextId.dashboard++,
          uid,
          orgId,
          title: '',
          version: 0,
          json: {},
          created: now,
          updated: now,
        };
        dash.title = json.title;
        dash.version += 1;
        dash.updated = now;
        dash.json = { ...json, id: dash.id, uid, version: dash.version };
        if (!existing) s.dashboards.push(dash);
        const slug = slugify(dash.title);
        return { body: { id: dash.id, uid, url: `/d/${uid}/${slug}`, status: 'success', version: dash.version, title: slug } };
      },
      getDashboardByUID: ({ caller, path }) => {
        const orgId = this.requireRole(caller, 'Viewer');
        const d = s.dashboards.find((x) => x.orgId === orgId && x.uid === path.uid);
        if (!d) throw new HttpError(404, 'Dashboard not found');
        const canEdit = ROLE_RANK[this.roleIn(caller, orgId)] >= ROLE_RANK.Editor;
        const slug = slugify(d.title);
        return {
          body: {
            dashboard: d.json,
            meta: {
              type: 'db',
              slug,
              url: `/d/${d.uid}/${slug}`,
              version: d.version,
              canEdit,
              canSave: canEdit,
              canAdmin: canEdit,
              canDelete: canEdit,
              canStar: true,
              created: d.created,
              updated: d.updated,
              folderId: 0,
              folderUid: '',
              folderTitle: 'General',
              provisioned: false,
            },
          },
        };
      },
      deleteDashboardByUID: ({ caller, path }) => {
        const orgId = this.requireRole(caller, 'Editor');
        const i = s.dashboards.findIndex((x) => x.orgId === orgId && x.uid === path.uid);
        if (i < 0) throw new HttpError(404, 'Dashboard not found');
        const [d] = s.dashboards.splice(i, 1);
        return { body: { id: d!.id, title: d!.title, message: `Dashboard ${d!.title} deleted` } };
      },
      search: ({ caller, query }) => {
        const orgId = this.requireRole(caller, 'Viewer');
        if (query.type === 'dash-folder') return { body: [] };
        let hits = s.dashboards.filter((d) => d.orgId === orgId);
        const uids = query.dashboardUIDs as string[] | undefined;
        if (uids) hits = hits.filter((d) => uids.includes(d.uid));
        if (query.query !== undefined) hits = hits.filter((d) => d.title.toLowerCase().includes(String(query.query).toLowerCase()));
        const limit = (query.limit as number | undefined) ?? 1000;
        return {
          body: hits.slice(0, limit).map((d) => ({
            id: d.id,
            uid: d.uid,
            title: d.title,
            uri: `db/${slugify(d.title)}`,
            url: `/d/${d.uid}/${slugify(d.title)}`,
            slug: '',
            type: 'dash-db',
            tags: (d.json.tags as string[] | undefined) ?? [],
            isStarred: false,
            sortMeta: 0,
          })),
        };
      },

      // org preferences (current org)
      getOrgPreferences: ({ caller }) => {
        const orgId = this.requireRole(caller, 'Admin');
        return { body: s.preferences.get(orgId) ?? { homeDashboardUID: '', theme: '', timezone: '', weekStart: '' } };
      },
      patchOrgPreferences: ({ caller, body }) => {
        const orgId = this.requireRole(caller, 'Admin');
        const current = s.preferences.get(orgId) ?? { homeDashboardUID: '', theme: '', timezone: '', weekStart: '' };
        this.applyPreferences(orgId, { ...current }, body);
        return { body: { message: 'Preferences updated' } };
      },
      updateOrgPreferences: ({ caller, body }) => {
        const orgId = this.requireRole(caller, 'Admin');
        this.applyPreferences(orgId, { homeDashboardUID: '', theme: '', timezone: '', weekStart: '' }, body);
        return { body: { message: 'Preferences updated' } };
      },
    };
  }

  private applyPreferences(
    orgId: number,
    prefs: { homeDashboardUID: string; theme: string; timezone: string; weekStart: string },
    body: Json,
  ): void {
    if (typeof body.homeDashboardUID === 'string' && body.homeDashboardUID !== '') {
      if (!this.state.dashboards.some((d) => d.orgId === orgId && d.uid === body.homeDashboardUID)) {
        throw new HttpError(404, 'Dashboard not found');
      }
      prefs.homeDashboardUID = body.homeDashboardUID;
    }
    for (const k of ['theme', 'timezone', 'weekStart'] as const) if (typeof body[k] === 'string') prefs[k] = body[k];
    this.state.preferences.set(orgId, prefs);
  }
}
