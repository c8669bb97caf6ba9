import type { AxiosInstance } from 'axios';
import { errorMessage } from './errors';

/**
 * A client for n8n's public API (v1, with an API key) plus the one internal route that 2.8 lacks
 * publicly: stopping an execution, which needs the owner's session cookie.
 */

export type ExecutionStatus = 'success' | 'error' | 'running' | 'waiting' | 'canceled' | 'crashed' | 'new' | 'unknown';

export interface N8nWorkflow {
  id: string;
  name: string;
  active: boolean;
  createdAt?: string;
  updatedAt?: string;
  nodes?: Array<{ type: string; name: string; parameters?: Record<string, unknown> } & Record<string, unknown>>;
  connections?: Record<string, unknown>;
  settings?: Record<string, unknown>;
  [extra: string]: unknown;
}

export interface N8nExecution {
  id: string;
  workflowId: string;
  status: ExecutionStatus;
  mode?: string;
  finished?: boolean;
  startedAt: string | null;
  stoppedAt: string | null;
  retryOf?: string | null;
  retrySuccessId?: string | null;
  [extra: string]: unknown;
}

/** A credential as n8n's public API lists it: never its data. */
export interface N8nCredential {
  id: string;
  name: string;
  type: string;
  createdAt?: string;
  updatedAt?: string;
}

export interface N8nClientOptions {
  url: string;
  apiKey: string;
  ownerEmail?: string;
  ownerPassword?: string;
  timeoutSeconds?: number;
}

export class N8nError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** No answer within the request's timeout: n8n may still be doing what was asked. */
    readonly timedOut = false,
  ) {
    super(message);
    this.name = 'N8nError';
  }
}

function loadAxios(): typeof import('axios') {
  // Loaded by the first client, not with @ct/lib: most ct commands never talk to n8n, and every command loads @ct/lib.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('axios') as typeof import('axios');
}

interface Page<T> {
  data: T[];
  nextCursor?: string | null;
}

export class N8nClient {
  private readonly http: AxiosInstance;
  private sessionCookie: string | null = null;

  constructor(private readonly opts: N8nClientOptions) {
    this.http = loadAxios().create({
      baseURL: opts.url.replace(/\/+$/, ''),
      timeout: Math.round((opts.timeoutSeconds ?? 10) * 1000),
      headers: { 'X-N8N-API-KEY': opts.apiKey, Accept: 'application/json' },
      validateStatus: () => true,
    });
  }

  private async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    body?: unknown,
    params?: object,
    timeoutMs?: number,
  ): Promise<T> {
    let res;
    try {
      // n8n answers 415 to a bodiless POST (axios then sends a form content type): send {} instead.
      const data = body === undefined && (method === 'POST' || method === 'PUT') ? {} : body;
      res = await this.http.request<T>({ method, url, data, params, ...(timeoutMs ? { timeout: timeoutMs } : {}) });
    } catch (err) {
      throw networkError(`n8n ${method} ${url}`, err);
    }
    if (res.status >= 400) {
      const msg = (res.data as { message?: string } | undefined)?.message;
      throw new N8nError(`n8n ${method} ${url} answered ${res.status}${msg ? `: ${msg}` : ''}`, res.status);
    }
    return res.data;
  }

  /** Follows n8n's cursor pagination to the end. */
  private async *paginate<T>(url: string, params: Record<string, unknown>): AsyncGenerator<T> {
    let cursor: string | undefined;
    do {
      const page = await this.request<Page<T>>('GET', url, undefined, { ...params, cursor });
      for (const item of page.data) yield item;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  /** Every workflow, page by page as n8n sends them, so a caller need not hold the whole list. */
  async *workflows(): AsyncGenerator<N8nWorkflow> {
    yield* this.paginate<N8nWorkflow>('/api/v1/workflows', { limit: 250 });
  }

  async listWorkflows(): Promise<N8nWorkflow[]> {
    const out: N8nWorkflow[] = [];
    for await (const w of this.workflows()) out.push(w);
    return out;
  }

  getWorkflow(id: string): Promise<N8nWorkflow> {
    return this.request('GET', `/api/v1/workflows/${encodeURIComponent(id)}`);
  }

  createWorkflow(wf: Pick<N8nWorkflow, 'name' | 'nodes' | 'connections' | 'settings'>): Promise<N8nWorkflow> {
    return this.request('POST', '/api/v1/workflows', { settings: {}, ...wf });
  }

  updateWorkflow(id: string, wf: Pick<N8nWorkflow, 'name' | 'nodes' | 'connections' | 'settings'>): Promise<N8nWorkflow> {
    return this.request('PUT', `/api/v1/workflows/${encodeURIComponent(id)}`, { settings: {}, ...wf });
  }

  deleteWorkflow(id: string): Promise<N8nWorkflow> {
    return this.request('DELETE', `/api/v1/workflows/${encodeURIComponent(id)}`);
  }

  activateWorkflow(id: string): Promise<N8nWorkflow> {
    return this.request('POST', `/api/v1/workflows/${encodeURIComponent(id)}/activate`);
  }

  deactivateWorkflow(id: string): Promise<N8nWorkflow> {
    return this.request('POST', `/api/v1/workflows/${encodeURIComponent(id)}/deactivate`);
  }

  /** Every credential (id, name, type; n8n never returns their data). */
  async listCredentials(): Promise<N8nCredential[]> {
    const out: N8nCredential[] = [];
    for await (const c of this.paginate<N8nCredential>('/api/v1/credentials', { limit: 250 })) out.push(c);
    return out;
  }

  /** Creates a credential; n8n stores `data` encrypted with its encryption key and never returns it. */
  createCredential(c: { name: string; type: string; data: Record<string, unknown> }): Promise<N8nCredential> {
    return this.request('POST', '/api/v1/credentials', c);
  }

  /** Executions, newest first, optionally stopping once `until` returns true for an item. */
  async *executions(
    filter: { status?: ExecutionStatus; workflowId?: string; includeData?: boolean; pageSize?: number } = {},
  ): AsyncGenerator<N8nExecution> {
    yield* this.paginate<N8nExecution>('/api/v1/executions', {
      status: filter.status,
      workflowId: filter.workflowId,
      includeData: filter.includeData ?? false,
      limit: filter.pageSize ?? 250,
    });
  }

  async listExecutions(filter: { status?: ExecutionStatus; workflowId?: string } = {}): Promise<N8nExecution[]> {
    const out: N8nExecution[] = [];
    for await (const e of this.executions(filter)) out.push(e);
    return out;
  }

  getExecution(id: string, includeData = false): Promise<N8nExecution> {
    return this.request('GET', `/api/v1/executions/${encodeURIComponent(id)}`, undefined, { includeData });
  }

  /**
   * Retries a finished (failed or canceled) execution; returns the new execution. n8n answers only
   * once the retry has ended: `timeoutSeconds` bounds that wait (the retry goes on in n8n).
   */
  retryExecution(id: string, opts: { loadWorkflow?: boolean; timeoutSeconds?: number } = {}): Promise<N8nExecution> {
    const timeoutMs = opts.timeoutSeconds ? Math.round(opts.timeoutSeconds * 1000) : undefined;
    return this.request(
      'POST',
      `/api/v1/executions/${encodeURIComponent(id)}/retry`,
      { loadWorkflow: opts.loadWorkflow ?? true },
      undefined,
      timeoutMs,
    );
  }

  /**
   * Stops a running execution: through the public API where the version has the route, else
   * through the internal route with a service login (n8n 2.8.x).
   */
  async stopExecution(id: string): Promise<{ via: 'public' | 'session' }> {
    try {
      await this.request('POST', `/api/v1/executions/${encodeURIComponent(id)}/stop`);
      return { via: 'public' };
    } catch (err) {
      if (!(err instanceof N8nError) || (err.status !== 404 && err.status !== 405)) throw err;
      // 404 is also what an unknown execution gets; the session route below tells the two apart.
    }
    await this.sessionRequest('POST', `/rest/executions/${encodeURIComponent(id)}/stop`);
    return { via: 'session' };
  }

  private async login(): Promise<string> {
    if (!this.opts.ownerEmail || !this.opts.ownerPassword) {
      throw new N8nError('stopping an execution on this n8n version needs N8N_OWNER_EMAIL and N8N_OWNER_PASSWORD');
    }
    let res;
    try {
      res = await this.http.post(
        '/rest/login',
        { emailOrLdapLoginId: this.opts.ownerEmail, password: this.opts.ownerPassword },
        { headers: { 'X-N8N-API-KEY': undefined } },
      );
    } catch (err) {
      throw networkError('n8n login', err);
    }
    if (res.status !== 200) throw new N8nError(`n8n login answered ${res.status}`, res.status);
    const cookie = ([] as string[])
      .concat(res.headers['set-cookie'] ?? [])
      .map((c) => c.split(';')[0])
      .find((c) => c?.startsWith('n8n-auth='));
    if (!cookie) throw new N8nError('n8n login did not return a session cookie');
    return cookie;
  }

  private async sessionRequest(method: 'GET' | 'POST', url: string, body?: unknown): Promise<unknown> {
    for (let attempt = 0; attempt < 2; attempt++) {
      this.sessionCookie ??= await this.login();
      let res;
      try {
        res = await this.http.request({ method, url, data: body, headers: { Cookie: this.sessionCookie, 'X-N8N-API-KEY': undefined } });
      } catch (err) {
        throw networkError(`n8n ${method} ${url}`, err);
      }
      if (res.status === 401 && attempt === 0) {
        this.sessionCookie = null; // expired session: log in again once
        continue;
      }
      if (res.status >= 400) {
        const msg = (res.data as { message?: string } | undefined)?.message;
        throw new N8nError(`n8n ${method} ${url} answered ${res.status}${msg ? `: ${msg}` : ''}`, res.status);
      }
      return (res.data as { data?: unknown })?.data ?? res.data;
    }
    throw new N8nError(`n8n ${method} ${url}: session rejected`);
  }

  /** True when n8n answers its health route. */
  async healthy(): Promise<boolean> {
    try {
      const res = await this.http.get('/healthz', { timeout: 3000 });
      return res.status === 200;
    } catch {
      return false;
    }
  }
}

/** A request that got no answer from n8n, as an N8nError saying why ("<what> failed: timed out"). */
function networkError(what: string, err: unknown): N8nError {
  if (loadAxios().isAxiosError(err)) {
    if (err.code === 'ECONNREFUSED') return new N8nError(`${what} failed: connection refused (is n8n running?)`);
    if (err.code === 'ECONNABORTED' || err.code === 'ETIMEDOUT') return new N8nError(`${what} failed: timed out`, undefined, true);
    return new N8nError(`${what} failed: ${err.code ?? err.message}`);
  }
  return new N8nError(`${what} failed: ${errorMessage(err)}`);
}
