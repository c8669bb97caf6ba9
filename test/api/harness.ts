import { Writable } from 'node:stream';
import { createLogger, listen, N8nClient, withTransaction, type Pool, type SecretKeyring } from '@ct/lib';
import { createApiKey, createApp, createAdminUser, hashPassword, type AppOptions, type ForceBackup } from '@ct/api';
import { benchEnv, createTestDatabase, type TestDatabase } from '../helpers/db';

export const JWT_SECRET = 'test-only-jwt-secret-0123456789abcdefgh';
export const PROXY_SECRET = 'test-only-grafana-proxy-secret-0123456789';
export const ADMIN_EMAIL = 'ops@agency.test';
export const ADMIN_PASSWORD = 'correct horse battery';

export interface TestApi {
  url: string;
  /** The internal listener (API_INTERNAL_PORT in production): /metrics and /readyz. */
  internalUrl: string;
  db: TestDatabase;
  pool: Pool;
  keys: { admin: string; write: string; read: string };
  /** What the logger wrote, one JSON line each. */
  logLines: string[];
  call(
    method: string,
    path: string,
    o?: { key?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<Res>;
  /** GET on the internal listener, e.g. internal('/metrics'). */
  internal(path: string): Promise<Res>;
  /** The API's own metrics, as Prometheus scrapes them. */
  scrape(): Promise<string>;
  close(): Promise<void>;
}

export interface Res {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

export function n8nFromBench(): N8nClient {
  return new N8nClient({
    url: benchEnv('N8N_URL'),
    apiKey: benchEnv('N8N_API_KEY'),
    ownerEmail: process.env.N8N_OWNER_EMAIL,
    ownerPassword: process.env.N8N_OWNER_PASSWORD,
    timeoutSeconds: 30,
  });
}

export async function startTestApi(
  o: {
    settings?: Partial<AppOptions['settings']>;
    forceBackup?: ForceBackup;
    db?: TestDatabase;
    n8n?: N8nClient;
    /** The keyring of client secrets (default: a test-only one); another process sharing the database needs the same. */
    keyring?: SecretKeyring;
  } = {},
): Promise<TestApi> {
  const db = o.db ?? (await createTestDatabase({ prefix: 'api' }));
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger({ level: 'info', format: 'json', destination });
  const keyring = o.keyring ?? { currentId: 'test', keys: { test: 'test-only-secrets-key-0123456789abcdef' } };
  const { app, internal } = createApp({
    // As production runs it: connected as the application role.
    pool: db.appPool,
    n8n: o.n8n ?? n8nFromBench(),
    keyring,
    logger,
    forceBackup: o.forceBackup,
    settings: {
      jwtSecret: JWT_SECRET,
      accessTtlSeconds: 900,
      refreshTtlSeconds: 86400,
      secretGraceSeconds: 86400,
      stuckThresholdSeconds: 900,
      prometheusUrl: process.env.PROMETHEUS_URL,
      corsOrigins: [],
      rateLimitPerIp: 1_000_000,
      rateLimitPerKey: 1_000_000,
      webhookRateLimit: 1_000_000,
      trustProxy: false,
      grafanaProxySecret: PROXY_SECRET,
      ...o.settings,
    },
  });
  const server = await listen(app, { port: 0 });
  const internalServer = await listen(internal, { port: 0 });
  const actor = { actor: 'test-setup', actorType: 'system' as const };
  const keys = await withTransaction(db.pool, async (tx) => ({
    admin: (await createApiKey(tx, { name: 'admin', scopes: ['admin'], owner: 'test' }, actor)).key,
    write: (await createApiKey(tx, { name: 'write', scopes: ['write'], owner: 'test' }, actor)).key,
    read: (await createApiKey(tx, { name: 'read', scopes: ['read'], owner: 'test' }, actor)).key,
  }));
  if (!o.db)
    await withTransaction(db.pool, async (tx) =>
      createAdminUser(tx, { email: ADMIN_EMAIL, passwordHash: await hashPassword(ADMIN_PASSWORD) }, actor),
    );
  const fetchRes = async (url: string, init?: RequestInit): Promise<Res> => {
    const res = await fetch(url, init);
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, headers: res.headers, body: json, text };
  };
  return {
    url: server.url,
    internalUrl: internalServer.url,
    db,
    pool: db.pool,
    keys,
    logLines,
    async call(method, path, c = {}) {
      const headers: Record<string, string> = { ...c.headers };
      const key = c.key === undefined ? keys.admin : c.key;
      if (key) headers.authorization = `Bearer ${key}`;
      let body: string | undefined = c.raw;
      if (c.body !== undefined) {
        body = JSON.stringify(c.body);
        headers['content-type'] ??= 'application/json';
      }
      return fetchRes(`${server.url}${path}`, { method, headers, body });
    },
    internal: (path) => fetchRes(`${internalServer.url}${path}`),
    scrape: async () => (await fetchRes(`${internalServer.url}/metrics`)).text,
    async close() {
      await Promise.all([server.close(2000), internalServer.close(2000)]);
      if (!o.db) await db.drop();
    },
  };
}

/** Asserts a 400 naming `field` (and returns the body for more checks). */
export function expectField(res: Res, field: string): void {
  if (res.status !== 400) throw new Error(`expected 400 naming ${field}, got ${res.status}: ${res.text.slice(0, 300)}`);
  const fields = (res.body?.fields ?? []).map((f: { field: string }) => f.field);
  if (!fields.includes(field)) throw new Error(`expected a problem with ${field}, got ${JSON.stringify(res.body?.fields)}`);
}

interface DocOperation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> };
}
export interface Operation {
  method: string;
  /** OpenAPI path template, e.g. /api/clients/{client}. */
  template: string;
  query: string[];
  body: string[];
}

/** Every operation of the API's own OpenAPI document, with its query parameters and body fields. */
export async function operations(api: TestApi): Promise<Operation[]> {
  const doc = (await api.call('GET', '/api/openapi.json', { key: null })).body as { paths: Record<string, Record<string, DocOperation>> };
  return Object.entries(doc.paths).flatMap(([template, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      template,
      query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      body: Object.keys(op.requestBody?.content?.['application/json']?.schema?.properties ?? {}),
    })),
  );
}
