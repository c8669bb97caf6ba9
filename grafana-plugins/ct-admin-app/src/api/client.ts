import { lastValueFrom } from 'rxjs';
import { getBackendSrv } from '@grafana/runtime';
import { PROXY_BASE } from '../constants';
import { toApiError } from './errors';
import type { paths } from './schema';
import type {
  AuditRow,
  Automation,
  BackupStarted,
  ChainVerification,
  Client,
  ExportDefinition,
  Invoice,
  MappedWorkflow,
  Me,
  Page,
  PlatformStatus,
  RestartAnswer,
  Rotation,
  Subscription,
  Usage,
} from './types';

/**
 * The one client of the platform API. Paths, path parameters, query strings and bodies are typed
 * from the API's OpenAPI document (src/api/schema.d.ts is generated from src/api/openapi.json,
 * which a check keeps equal to what the API serves): a route that changes or disappears breaks
 * this file's typecheck. Calls go through Grafana's plugin proxy, never to the API directly.
 */

export type Method = 'get' | 'post' | 'patch' | 'delete';
/** The API paths that have an operation for this method. */
export type PathsWith<M extends Method> = {
  [P in keyof paths]-?: undefined extends paths[P][M] ? never : P;
}[keyof paths];
type Op<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type PathParams<O> = O extends { parameters: { path: infer X } } ? ([X] extends [undefined] ? never : X) : never;
type QueryParams<O> = O extends { parameters: { query?: infer X } } ? X : never;
type Body<O> = O extends { requestBody: { content: { 'application/json': infer B } } }
  ? B
  : O extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B
    : never;

export interface CallOptions<P extends keyof paths, M extends Method> {
  params?: PathParams<Op<P, M>>;
  query?: QueryParams<Op<P, M>>;
  body?: Body<Op<P, M>>;
}

/** Every call this plugin makes, as `METHOD /api/...` templates: checked against plugin.json and the API document. */
export const CALLS: Array<{ method: Method; path: string }> = [];
function declare<M extends Method, P extends PathsWith<M>>(method: M, path: P): { method: M; path: P } {
  CALLS.push({ method, path });
  return { method, path };
}

/** Fills `{name}` placeholders (each value URL-encoded). */
export function fillPath(template: string, params: Record<string, string> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined || v === '') {
      throw new Error(`missing path parameter ${name} for ${template}`);
    }
    return encodeURIComponent(v);
  });
}

function queryString(query: object | undefined): string {
  if (!query) {
    return '';
  }
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') {
      q.set(k, String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The proxied URL of an API path: what the browser requests from Grafana. */
export function proxyUrl(template: string, params?: Record<string, string>, query?: object): string {
  return `${PROXY_BASE}${fillPath(template, params)}${queryString(query)}`;
}

export async function call<T, M extends Method, P extends PathsWith<M>>(
  op: { method: M; path: P },
  o: CallOptions<P, M> = {}
): Promise<T> {
  try {
    const res = await lastValueFrom(
      getBackendSrv().fetch<T>({
        url: proxyUrl(op.path, o.params as Record<string, string> | undefined, o.query as object | undefined),
        method: op.method.toUpperCase(),
        data: o.body,
        showErrorAlert: false,
        showSuccessAlert: false,
      })
    );
    return res.data;
  } catch (err) {
    throw toApiError(err);
  }
}

const ops = {
  me: declare('get', '/api/auth/me'),
  status: declare('get', '/api/admin/status'),
  clients: declare('get', '/api/clients'),
  client: declare('get', '/api/clients/{client}'),
  pause: declare('post', '/api/clients/{client}/pause'),
  resume: declare('post', '/api/clients/{client}/resume'),
  churn: declare('post', '/api/clients/{client}/churn'),
  automations: declare('get', '/api/automations'),
  workflows: declare('get', '/api/automations/workflows'),
  usage: declare('get', '/api/metrics/usage'),
  subscriptions: declare('get', '/api/billing/subscriptions'),
  invoices: declare('get', '/api/billing/invoices'),
  restartStuck: declare('post', '/api/admin/executions/restart-stuck'),
  rotateSecret: declare('post', '/api/admin/clients/{client}/rotate-secret'),
  backup: declare('post', '/api/admin/backups'),
  audit: declare('get', '/api/admin/audit'),
  verify: declare('post', '/api/admin/audit/verify'),
  exports: declare('get', '/api/admin/exports'),
  exportOne: declare('get', '/api/admin/exports/{name}'),
};

type Q<K extends keyof typeof ops> = CallOptions<(typeof ops)[K]['path'], (typeof ops)[K]['method']>['query'];
type B<K extends keyof typeof ops> = CallOptions<(typeof ops)[K]['path'], (typeof ops)[K]['method']>['body'];

/** Follows nextCursor until the end (or `max` items), for lists the UI shows whole. */
async function all<T>(fetchPage: (cursor?: string) => Promise<Page<T>>, max = 5000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    out.push(...page.data);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && out.length < max);
  return out;
}

export const api = {
  me: () => call<Me, 'get', '/api/auth/me'>(ops.me),
  status: () => call<PlatformStatus, 'get', '/api/admin/status'>(ops.status),
  clients: (query: Q<'clients'> = {}) => call<Page<Client>, 'get', '/api/clients'>(ops.clients, { query }),
  allClients: (query: Omit<NonNullable<Q<'clients'>>, 'cursor' | 'limit'> = {}) =>
    all((cursor) => api.clients({ ...query, cursor, limit: 500 })),
  client: (client: string) => call<Client, 'get', '/api/clients/{client}'>(ops.client, { params: { client } }),
  pause: (client: string) =>
    call<Client & { changed: boolean }, 'post', '/api/clients/{client}/pause'>(ops.pause, { params: { client } }),
  resume: (client: string) =>
    call<Client & { changed: boolean }, 'post', '/api/clients/{client}/resume'>(ops.resume, { params: { client } }),
  churn: (client: string) =>
    call<Client & { changed: boolean }, 'post', '/api/clients/{client}/churn'>(ops.churn, { params: { client } }),
  allAutomations: (client?: string) =>
    all((cursor) =>
      call<Page<Automation>, 'get', '/api/automations'>(ops.automations, { query: { client, cursor, limit: 500 } })
    ),
  workflows: (client: string) =>
    call<{ client: string; data: MappedWorkflow[] }, 'get', '/api/automations/workflows'>(ops.workflows, {
      query: { client },
    }),
  usage: (query: NonNullable<Q<'usage'>>) =>
    call<{ from: string; to: string; data: Usage[] }, 'get', '/api/metrics/usage'>(ops.usage, { query }),
  subscriptions: (query: Q<'subscriptions'> = {}) =>
    call<{ data: Subscription[] }, 'get', '/api/billing/subscriptions'>(ops.subscriptions, { query }),
  allInvoices: (query: Omit<NonNullable<Q<'invoices'>>, 'cursor' | 'limit'> = {}) =>
    all((cursor) =>
      call<Page<Invoice>, 'get', '/api/billing/invoices'>(ops.invoices, { query: { ...query, cursor, limit: 500 } })
    ),
  restartStuck: (body: NonNullable<B<'restartStuck'>>) =>
    call<RestartAnswer, 'post', '/api/admin/executions/restart-stuck'>(ops.restartStuck, { body }),
  rotateSecret: (client: string, body: B<'rotateSecret'>) =>
    call<Rotation, 'post', '/api/admin/clients/{client}/rotate-secret'>(ops.rotateSecret, { params: { client }, body }),
  backup: () => call<BackupStarted, 'post', '/api/admin/backups'>(ops.backup),
  audit: (query: Q<'audit'>) => call<Page<AuditRow>, 'get', '/api/admin/audit'>(ops.audit, { query }),
  verify: () => call<ChainVerification, 'post', '/api/admin/audit/verify'>(ops.verify),
  exports: () => call<{ data: ExportDefinition[] }, 'get', '/api/admin/exports'>(ops.exports),
  /** The download link of an export: the browser streams the file from Grafana's proxy to disk. */
  exportUrl: (name: string, query: NonNullable<Q<'exportOne'>>) => proxyUrl(ops.exportOne.path, { name }, query),
};
