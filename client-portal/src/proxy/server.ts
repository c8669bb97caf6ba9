import http from 'node:http';
import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import express from 'express';
import { errorMessage, listen, metricsHandler, type Logger, type Pool, type RunningServer } from '@ct/lib';
import { createTenantProxyMetrics, type Endpoint, type Outcome, type RejectReason, type TenantProxyMetrics } from './metrics';
import { enforceClient, enforceClientSelector, QueryRefused } from './promql';
import { TokenCache } from './token-cache';
import { verifyPortalToken, type VerifiedPortalToken } from './tokens';

/**
 * The tenant proxy: the Prometheus HTTP API as a client's Grafana organisation sees it.
 *
 * Each request is authenticated by the client's portal token (`Authorization: Bearer ctp_…`); the
 * client's slug then goes onto every selector of every expression (see promql.ts) before anything
 * reaches Prometheus. Only what Grafana's Prometheus datasource uses is served; the request sent
 * upstream is rebuilt from the parameters each endpoint knows, checked, so nothing the caller
 * adds (a second `query`, another header, a parameter Prometheus would read) goes through.
 *
 *   GET|POST /api/v1/query, /api/v1/query_range, /api/v1/query_exemplars   expression enforced
 *   GET|POST /api/v1/series, /api/v1/labels; GET /api/v1/label/<name>/values
 *            every match[] enforced; without one, the client's own series ({client="<slug>"})
 *   GET /api/v1/metadata           only ct_ metrics the client has series of
 *   GET /api/v1/status/buildinfo   as Prometheus answers it (the datasource's health check)
 *   anything else                  403
 *
 * A missing, malformed, unknown or ended token is answered 401 with the same body whatever the
 * cause, before any routing. Bad input gets a 4xx with a message naming what is wrong.
 */

export interface TenantProxyLimits {
  /** Longest evaluation, in seconds (Prometheus's `timeout`). */
  timeoutSeconds: number;
  maxQueryLength: number;
  maxBodyBytes: number;
  /** Requests of one client at Prometheus at once. */
  maxConcurrent: number;
  /** Requests of one client waiting for a turn. */
  maxQueued: number;
  /** Most match[] selectors in one request. */
  maxMatchers: number;
}

export const DEFAULT_LIMITS: TenantProxyLimits = {
  timeoutSeconds: 30,
  maxQueryLength: 16_384,
  maxBodyBytes: 65_536,
  maxConcurrent: 20,
  maxQueued: 100,
  maxMatchers: 20,
};

export interface TenantProxyOptions {
  /** The platform database, where portal tokens are verified. */
  pool: Pool;
  prometheusUrl: string;
  logger: Logger;
  limits?: Partial<TenantProxyLimits>;
  /** Seconds a verified token is remembered. */
  authCacheSeconds?: number;
}

export interface TenantProxy {
  /** The Prometheus API, for the client organisations' datasources (a node:http server, not listening yet). */
  server: http.Server;
  /** GET /metrics and GET /healthz, on a port of their own. */
  metricsApp: express.Express;
  metrics: TenantProxyMetrics;
  limits: TenantProxyLimits;
  close(): void;
}

/** An answer in the Prometheus API's error format. */
class ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
    readonly outcome: Outcome,
    readonly reject?: RejectReason,
  ) {
    super(message);
  }
}

const badParam = (message: string) => new ProxyError(400, 'bad_data', message, 'bad_request', 'invalid_parameter');

interface Locals {
  started: bigint;
  endpoint: Endpoint;
  client?: VerifiedPortalToken;
  /** Time spent waiting for Prometheus, and for a turn under the per-client cap (ns). */
  excludedNs: bigint;
  recorded?: boolean;
}

/**
 * The API is served by node:http itself, not express: at a dashboard's burst of queries on one event
 * loop, express's router and request decoration were a third of the proxy's CPU per request.
 */
export class ProxyRequest extends http.IncomingMessage {
  /** The path as sent, without the query string (not decoded, not normalised). */
  pathname = '/';
  /** The label of /api/v1/label/<name>/values, decoded. */
  labelName = '';
  /** The form body, set by the body parser. */
  body?: unknown;
}
export class ProxyResponse extends http.ServerResponse<ProxyRequest> {
  locals!: Locals;
}
type Request = ProxyRequest;
type Response = ProxyResponse;
const locals = (res: Response) => res.locals;

function endpointOf(path: string): Endpoint {
  switch (path) {
    case '/api/v1/query':
      return 'query';
    case '/api/v1/query_range':
      return 'query_range';
    case '/api/v1/series':
      return 'series';
    case '/api/v1/labels':
      return 'labels';
    case '/api/v1/query_exemplars':
      return 'query_exemplars';
    case '/api/v1/metadata':
      return 'metadata';
    case '/api/v1/status/buildinfo':
      return 'buildinfo';
    default:
      return /^\/api\/v1\/label\/[^/]+\/values$/.test(path) ? 'label_values' : 'other';
  }
}

/** The parameters of a request: the URL's and, for a form POST, the body's, every value of each. */
class Params {
  private readonly values = new Map<string, string[]>();
  constructor(sources: URLSearchParams[]) {
    for (const source of sources) for (const [k, v] of source) this.values.set(k, [...(this.values.get(k) ?? []), v]);
  }
  /** One value at most; a parameter given twice is refused rather than guessed at. */
  one(name: string, opts: { required?: boolean; maxLength?: number } = {}): string | undefined {
    const all = this.values.get(name) ?? [];
    if (all.length > 1) throw badParam(`parameter ${name} is given ${all.length} times; give it once`);
    const v = all[0];
    if (v === undefined || v === '') {
      if (opts.required) throw badParam(`parameter ${name} is required`);
      return undefined;
    }
    if (v.length > (opts.maxLength ?? 64)) throw badParam(`parameter ${name} is too long (${v.length} characters)`);
    return v;
  }
  all(name: string): string[] {
    return this.values.get(name) ?? [];
  }
}

/** A Prometheus duration (`30s`, `1m30s`, `500ms`) or a number of seconds, in seconds; null if neither. */
export function promDurationSeconds(v: string): number | null {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const m = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(v);
  if (!m || v === '') return null;
  const units = [365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001];
  return units.reduce((sum, unit, i) => sum + Number(m[i + 1] ?? 0) * unit, 0);
}

/** A per-client cap on requests at Prometheus at once, with a bounded line behind it. */
class ClientGate {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();
  constructor(
    private readonly maxConcurrent: number,
    private readonly maxQueued: number,
  ) {}
  /** Resolves with a release() once the client may go; null when its line is full. */
  async enter(client: string, signal: AbortSignal): Promise<(() => void) | null> {
    const n = this.running.get(client) ?? 0;
    if (n < this.maxConcurrent) {
      this.running.set(client, n + 1);
      return this.releaser(client);
    }
    const line = this.waiting.get(client) ?? [];
    if (line.length >= this.maxQueued) return null;
    this.waiting.set(client, line);
    return new Promise((resolve) => {
      const go = () => {
        signal.removeEventListener('abort', giveUp);
        resolve(this.releaser(client));
      };
      const giveUp = () => {
        const i = line.indexOf(go);
        if (i >= 0) line.splice(i, 1);
        resolve(null);
      };
      line.push(go);
      signal.addEventListener('abort', giveUp, { once: true });
    });
  }
  private releaser(client: string): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.get(client)?.shift();
      if (next)
        next(); // the turn passes on; the running count stays
      else {
        const n = (this.running.get(client) ?? 1) - 1;
        if (n <= 0) this.running.delete(client);
        else this.running.set(client, n);
        if (this.waiting.get(client)?.length === 0) this.waiting.delete(client);
      }
    };
  }
}

function sendError(res: Response, status: number, errorType: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendBody(res, status, JSON.stringify({ status: 'error', errorType, error: message }));
}

function sendBody(res: Response, status: number, json: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}

interface Upstream {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

export function createTenantProxy(opts: TenantProxyOptions): TenantProxy {
  const limits: TenantProxyLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const { logger } = opts;
  const metrics = createTenantProxyMetrics();
  const upstreamBase = new URL(opts.prometheusUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const gate = new ClientGate(limits.maxConcurrent, limits.maxQueued);
  const tokens = new TokenCache((opts.authCacheSeconds ?? 10) * 1000);

  const finish = (res: Response, outcome: Outcome) => {
    const l = locals(res);
    if (l.recorded) return;
    l.recorded = true;
    metrics.requests.inc({ client: l.client?.slug ?? 'unknown', endpoint: l.endpoint, outcome });
  };

  const fail = (res: Response, err: ProxyError) => {
    const l = locals(res);
    if (err.reject) metrics.rejectedQueries.inc({ client: l.client?.slug ?? 'unknown', reason: err.reject });
    if (err.status >= 500)
      logger.warn({ client: l.client?.slug, endpoint: l.endpoint, status: err.status, err: err.message }, 'request failed');
    else logger.debug({ client: l.client?.slug, endpoint: l.endpoint, status: err.status, err: err.message }, 'request refused');
    finish(res, err.outcome);
    sendError(res, err.status, err.errorType, err.message);
  };

  // Where requests go, worked out once (not a URL parsed per request).
  const target: http.RequestOptions = {
    host: upstreamBase.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: upstreamBase.port || 80,
    agent,
    ...(upstreamBase.username ? { auth: `${decodeURIComponent(upstreamBase.username)}:${decodeURIComponent(upstreamBase.password)}` } : {}),
  };
  const pathPrefix = upstreamBase.pathname.replace(/\/+$/, '');

  /**
   * Sends one request to Prometheus; the caller reads or relays the body. An abort of `signal`
   * destroys the request and its response (a listener of our own: handing the signal to
   * http.request costs a stream-finished watcher per request).
   */
  const upstream = (
    method: 'GET' | 'POST',
    path: string,
    params: URLSearchParams,
    signal: AbortSignal,
    acceptEncoding?: string,
  ): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new Error('aborted'));
      const query = params.toString();
      const headers: http.OutgoingHttpHeaders = { 'User-Agent': 'ct-tenant-proxy', Accept: 'application/json' };
      if (acceptEncoding) headers['Accept-Encoding'] = acceptEncoding;
      if (method === 'POST') {
        headers['Content-Type'] = 'application/x-www-form-urlencoded';
        headers['Content-Length'] = Buffer.byteLength(query);
      }
      const req = http.request(
        { ...target, method, path: method === 'GET' && query ? `${pathPrefix}${path}?${query}` : `${pathPrefix}${path}`, headers },
        (r) => resolve({ status: r.statusCode ?? 502, headers: r.headers, body: r }),
      );
      const onAbort = () => req.destroy(new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      req.once('close', () => signal.removeEventListener('abort', onAbort));
      req.on('error', reject);
      req.end(method === 'POST' ? query : undefined);
    });

  const readAll = async (body: http.IncomingMessage, max = 64 * 1024 * 1024): Promise<string> => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stream = body.headers['content-encoding'] === 'gzip' ? body.pipe(createGunzip()) : body;
    for await (const c of stream) {
      size += (c as Buffer).length;
      if (size > max) throw new ProxyError(502, 'internal', 'Prometheus answered more than the proxy relays', 'upstream_error');
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  };

  const tooLong = () =>
    new ProxyError(422, 'timeout', `the query took longer than ${limits.timeoutSeconds}s (the proxy's limit); narrow it`, 'timeout');

  /** An answer Prometheus gave that is not a success, turned into ours. */
  const upstreamFailure = async (up: Upstream): Promise<ProxyError> => {
    const text = await readAll(up.body, 1024 * 1024).catch(() => '');
    let parsed: { errorType?: string; error?: string } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      /* not JSON */
    }
    if (up.status === 400 || up.status === 422) {
      // Prometheus refusing the (enforced) expression or a parameter: the caller's to fix.
      return new ProxyError(
        up.status,
        parsed.errorType ?? 'bad_data',
        parsed.error ?? `Prometheus refused the request (${up.status})`,
        'upstream_rejected',
      );
    }
    if (up.status === 503 && parsed.errorType === 'timeout') return tooLong();
    if (up.status === 503 && parsed.errorType === 'canceled') {
      return new ProxyError(
        422,
        'canceled',
        'the query was canceled by Prometheus (too many samples or a restart); narrow it or try again',
        'timeout',
      );
    }
    logger.warn({ status: up.status, errorType: parsed.errorType }, 'Prometheus answered an error');
    return new ProxyError(502, 'unavailable', `Prometheus answered ${up.status}`, 'upstream_error');
  };

  /**
   * Takes the client's turn, calls Prometheus, and hands the response to `relay`. The time
   * waiting for the turn and for Prometheus is left out of the added latency.
   */
  const forward = async (
    res: Response,
    call: (signal: AbortSignal) => Promise<Upstream>,
    relay: (up: Upstream) => Promise<void>,
  ): Promise<void> => {
    const l = locals(res);
    const slug = l.client!.slug;
    // One controller per request: the caller going away, or the deadline below, aborts it.
    const abort = new AbortController();
    const gone = { aborted: false };
    const onClose = () => {
      if (res.writableFinished) return;
      gone.aborted = true;
      abort.abort();
    };
    res.on('close', onClose);
    const waitStart = process.hrtime.bigint();
    const release = await gate.enter(slug, abort.signal);
    l.excludedNs += process.hrtime.bigint() - waitStart;
    if (!release) {
      if (gone.aborted) return finish(res, 'canceled');
      res.setHeader('Retry-After', '1');
      throw new ProxyError(
        429,
        'too_many_requests',
        `too many queries at once for this organisation (${limits.maxConcurrent} running, ${limits.maxQueued} waiting); try again shortly`,
        'rate_limited',
      );
    }
    metrics.inFlight.inc({ client: slug });
    // Prometheus checks its own timeout only between evaluation steps; this deadline is the bound.
    // (A timer: AbortSignal.any and AbortSignal.timeout cost far more per request on Node 20.)
    const timeout = { aborted: false };
    const timer = setTimeout(
      () => {
        timeout.aborted = true;
        abort.abort();
      },
      (limits.timeoutSeconds + 1) * 1000,
    );
    const signal = abort.signal;
    const upStart = process.hrtime.bigint();
    try {
      let up: Upstream;
      try {
        up = await call(signal);
      } catch (err) {
        if (timeout.aborted) throw tooLong();
        if (gone.aborted) return finish(res, 'canceled');
        logger.warn({ err: errorMessage(err) }, 'Prometheus unreachable');
        throw new ProxyError(502, 'unavailable', 'Prometheus is unreachable', 'upstream_error');
      }
      if (up.status < 200 || up.status >= 300) throw await upstreamFailure(up);
      try {
        await relay(up);
      } catch (err) {
        if (timeout.aborted && !res.headersSent) throw tooLong();
        throw err;
      }
    } finally {
      l.excludedNs += process.hrtime.bigint() - upStart;
      clearTimeout(timer);
      metrics.inFlight.dec({ client: slug });
      release();
      res.off('close', onClose);
    }
  };

  /** Streams a successful Prometheus answer to the caller as it is. */
  const pipe = async (res: Response, up: Upstream): Promise<void> => {
    res.statusCode = up.status;
    for (const h of ['content-type', 'content-encoding', 'vary']) if (up.headers[h]) res.setHeader(h, String(up.headers[h]));
    await new Promise<void>((resolve, reject) => {
      up.body.on('error', reject);
      up.body.on('end', resolve);
      up.body.pipe(res);
    });
  };

  const sendJson = (res: Response, data: unknown) => {
    sendBody(res, 200, JSON.stringify({ status: 'success', data }));
  };

  /**
   * Enforcement results remembered (a dashboard sends the same expressions at every refresh; the
   * rewrite is a pure function of the expression and the slug). Refusals are not remembered.
   */
  const rewritten = new Map<string, string>();
  const enforced = (kind: string, query: string, slug: string, fn: (q: string, s: string, o: { maxLength: number }) => string): string => {
    const key = `${kind}\u0000${slug}\u0000${query}`;
    const hit = rewritten.get(key);
    if (hit !== undefined) return hit;
    const out = fn(query, slug, { maxLength: limits.maxQueryLength });
    if (rewritten.size >= 5000) rewritten.delete(rewritten.keys().next().value!);
    rewritten.set(key, out);
    return out;
  };

  const enforce = (res: Response, query: string): string => {
    try {
      return enforced('query', query, locals(res).client!.slug, enforceClient);
    } catch (err) {
      if (err instanceof QueryRefused) throw new ProxyError(400, 'bad_data', `query refused: ${err.message}`, 'bad_request', err.reason);
      throw err;
    }
  };

  /** The request's match[] selectors, each enforced; `{client="<slug>"}` when it gives none. */
  const enforcedMatchers = (res: Response, params: Params): string[] => {
    const slug = locals(res).client!.slug;
    const given = params.all('match[]');
    if (given.length > limits.maxMatchers)
      throw badParam(`at most ${limits.maxMatchers} match[] selectors are accepted, got ${given.length}`);
    if (given.length === 0) return [`{client="${slug}"}`];
    return given.map((m) => {
      try {
        return enforced('match', m, slug, enforceClientSelector);
      } catch (err) {
        if (err instanceof QueryRefused)
          throw new ProxyError(400, 'bad_data', `match[] refused: ${err.message}`, 'bad_request', err.reason);
        throw err;
      }
    });
  };

  /** Copies the named single-valued parameters that are present. */
  const copy = (params: Params, names: string[], into = new URLSearchParams()): URLSearchParams => {
    for (const n of names) {
      const v = params.one(n);
      if (v !== undefined) into.set(n, v);
    }
    return into;
  };

  /** Prometheus's timeout for this request: the caller's if shorter than the proxy's limit. */
  const timeoutParam = (params: Params): string => {
    const asked = params.one('timeout');
    if (asked === undefined) return `${limits.timeoutSeconds}s`;
    const s = promDurationSeconds(asked);
    if (s === null || s <= 0) throw badParam(`parameter timeout must be a duration such as 30s, got ${JSON.stringify(asked)}`);
    return `${Math.min(s, limits.timeoutSeconds)}s`;
  };

  const params = (req: Request): Params => {
    const sources = [new URL(req.url ?? '/', 'http://proxy.invalid').searchParams];
    if (req.method === 'POST' && typeof req.body === 'string') sources.push(new URLSearchParams(req.body));
    return new Params(sources);
  };

  /** The added-latency histogram, when a request answered by Prometheus finishes. */
  const observe = function (this: Response) {
    const l = locals(this);
    if (l.endpoint === 'other' || !l.client) return;
    const addedNs = process.hrtime.bigint() - l.started - l.excludedNs;
    metrics.addedLatency.observe({ endpoint: l.endpoint }, Number(addedNs) / 1e9);
  };

  /** Authentication, before anything else: the answer is the same whatever is wrong. True when it may go on. */
  const authenticate = async (req: Request, res: Response): Promise<boolean> => {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const token = m?.[1] ?? '';
    let who: VerifiedPortalToken | null = null;
    if (token) {
      const hash = createHash('sha256').update(token, 'utf8').digest('hex');
      try {
        who = await tokens.resolve(
          hash,
          () => verifyPortalToken(opts.pool, token),
          (err) => logger.warn({ err: errorMessage(err) }, 'cannot verify a remembered portal token again; it ends at its usual time'),
        );
      } catch (err) {
        logger.error({ err: errorMessage(err) }, 'cannot verify a portal token: the platform database is unavailable');
        finish(res, 'unavailable');
        sendError(res, 503, 'unavailable', 'authentication is unavailable; try again shortly');
        return false;
      }
    }
    if (!who) {
      finish(res, 'unauthorized');
      res.setHeader('WWW-Authenticate', 'Bearer realm="ct-tenant-proxy"');
      sendError(res, 401, 'unauthorized', 'a valid portal token is required (Authorization: Bearer <token>)');
      return false;
    }
    locals(res).client = who;
    return true;
  };

  const formBody = express.text({ type: 'application/x-www-form-urlencoded', limit: limits.maxBodyBytes, defaultCharset: 'utf-8' });
  /** Reads a form-encoded body into req.body with the body parser (its limit, charsets and encodings). */
  const readForm = (req: Request, res: Response) =>
    new Promise<void>((resolve, reject) =>
      formBody(req as unknown as express.Request, res as unknown as express.Response, (err?: unknown) => (err ? reject(err) : resolve())),
    );

  type Handler = (req: Request, res: Response) => Promise<void>;
  interface Route {
    /** Matched as express matched routes: any case, an optional trailing slash; group 1 is a label name. */
    path: RegExp;
    /** GET (and HEAD) only, or form-encoded POST as well; the body parser runs on the latter's requests. */
    post: boolean;
    handler: Handler;
  }
  const routes: Route[] = [];
  const routeOf = (path: string) => new RegExp(`^${path.replace(/\//g, '\\/').replace(':name', '([^/]+?)')}\\/?$`, 'i');
  /** GET and form-encoded POST, as Prometheus serves these endpoints. */
  const getOrPost = (path: string, handler: Handler) => routes.push({ path: routeOf(path), post: true, handler });
  const getOnly = (path: string, handler: Handler) => routes.push({ path: routeOf(path), post: false, handler });

  const queryEndpoint =
    (path: string, names: string[]): Handler =>
    async (req, res) => {
      const p = params(req);
      const query = enforce(res, p.one('query', { required: true, maxLength: Number.MAX_SAFE_INTEGER })!);
      const out = copy(p, names);
      out.set('query', query);
      if (path !== '/api/v1/query_exemplars') out.set('timeout', timeoutParam(p));
      const enc = req.headers['accept-encoding']?.includes('gzip') ? 'gzip' : undefined;
      await forward(
        res,
        (signal) => upstream('POST', path, out, signal, enc),
        (up) => pipe(res, up),
      );
    };

  getOrPost('/api/v1/query', queryEndpoint('/api/v1/query', ['time']));
  getOrPost('/api/v1/query_range', queryEndpoint('/api/v1/query_range', ['start', 'end', 'step']));
  getOrPost('/api/v1/query_exemplars', queryEndpoint('/api/v1/query_exemplars', ['start', 'end']));

  getOrPost('/api/v1/series', async (req, res) => {
    const p = params(req);
    const out = copy(p, ['start', 'end', 'limit']);
    for (const m of enforcedMatchers(res, p)) out.append('match[]', m);
    const slug = locals(res).client!.slug;
    await forward(
      res,
      (signal) => upstream('POST', '/api/v1/series', out, signal),
      async (up) => {
        const body = JSON.parse(await readAll(up.body)) as { data?: Record<string, string>[] };
        // Every selector holds client="<slug>" already; this is the second lock on the same door.
        sendJson(
          res,
          (body.data ?? []).filter((s) => s.client === slug),
        );
      },
    );
  });

  getOrPost('/api/v1/labels', async (req, res) => {
    const p = params(req);
    const out = copy(p, ['start', 'end', 'limit']);
    for (const m of enforcedMatchers(res, p)) out.append('match[]', m);
    await forward(
      res,
      (signal) => upstream('POST', '/api/v1/labels', out, signal),
      (up) => pipe(res, up),
    );
  });

  getOnly('/api/v1/label/:name/values', async (req, res) => {
    const name = req.labelName;
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw badParam(`invalid label name ${JSON.stringify(name.slice(0, 80))}`);
    const p = params(req);
    const out = copy(p, ['start', 'end', 'limit']);
    for (const m of enforcedMatchers(res, p)) out.append('match[]', m);
    await forward(
      res,
      (signal) => upstream('GET', `/api/v1/label/${name}/values`, out, signal),
      (up) => pipe(res, up),
    );
  });

  getOnly('/api/v1/metadata', async (req, res) => {
    const p = params(req);
    const metric = p.one('metric', { maxLength: 200 });
    if (metric !== undefined && !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(metric)) throw badParam(`invalid metric name ${JSON.stringify(metric)}`);
    const limit = p.one('limit');
    if (limit !== undefined && !/^\d{1,6}$/.test(limit)) throw badParam('parameter limit must be a whole number');
    const slug = locals(res).client!.slug;
    const out = new URLSearchParams(metric ? { metric } : {});
    let names: Set<string> = new Set();
    await forward(
      res,
      async (signal) => {
        // The metric names the client has series of, then the metadata of those.
        const own = await upstream(
          'GET',
          '/api/v1/label/__name__/values',
          new URLSearchParams({ 'match[]': `{client="${slug}"}` }),
          signal,
        );
        if (own.status !== 200) return own;
        names = new Set((JSON.parse(await readAll(own.body)) as { data: string[] }).data);
        return upstream('GET', '/api/v1/metadata', out, signal);
      },
      async (up) => {
        const body = JSON.parse(await readAll(up.body)) as { data?: Record<string, unknown[]> };
        const hasSeries = (family: string) =>
          ['', '_total', '_count', '_sum', '_bucket', '_created', '_info'].some((suffix) => names.has(family + suffix));
        const visible = Object.entries(body.data ?? {}).filter(([family]) => family.startsWith('ct_') && hasSeries(family));
        sendJson(res, Object.fromEntries(limit === undefined ? visible : visible.slice(0, Number(limit))));
      },
    );
  });

  getOnly('/api/v1/status/buildinfo', async (_req, res) => {
    await forward(
      res,
      (signal) => upstream('GET', '/api/v1/status/buildinfo', new URLSearchParams(), signal),
      (up) => pipe(res, up),
    );
  });

  // Everything else: the admin API, federation, targets, rules, alerts, TSDB status, remote read, the UI.
  const refuse = (req: Request, res: Response) => {
    const l = locals(res);
    if (l.endpoint !== 'other') {
      finish(res, 'bad_request');
      res.setHeader(
        'Allow',
        l.endpoint === 'label_values' || l.endpoint === 'metadata' || l.endpoint === 'buildinfo' ? 'GET' : 'GET, POST',
      );
      return sendError(res, 405, 'bad_data', `${req.method} is not allowed on ${req.pathname}`);
    }
    finish(res, 'forbidden');
    sendError(res, 403, 'forbidden', 'this endpoint is not available through the tenant proxy');
  };

  const onError = (err: unknown, res: Response) => {
    if (err instanceof ProxyError) return fail(res, err);
    const status = (err as { status?: number; statusCode?: number }).status ?? (err as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // The body parser's refusals: too large (413), unsupported charset or encoding (415), malformed (400).
      const outcome: Outcome = status === 413 ? 'too_large' : 'bad_request';
      const message = status === 413 ? `the request body is larger than ${limits.maxBodyBytes} bytes` : errorMessage(err);
      return fail(res, new ProxyError(status, 'bad_data', message, outcome));
    }
    if (err instanceof SyntaxError)
      return fail(res, new ProxyError(502, 'unavailable', 'Prometheus answered something unreadable', 'upstream_error'));
    logger.error({ err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'tenant proxy error');
    fail(res, new ProxyError(500, 'internal', 'internal error', 'upstream_error'));
  };

  const dispatch = async (req: Request, res: Response): Promise<void> => {
    if (!(await authenticate(req, res))) return;
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    for (const r of routes) {
      if (method !== 'GET' && !(method === 'POST' && r.post)) continue;
      const m = r.path.exec(req.pathname);
      if (!m) continue;
      if (m[1] !== undefined) {
        try {
          req.labelName = decodeURIComponent(m[1]);
        } catch {
          throw badParam(`invalid label name ${JSON.stringify(m[1].slice(0, 80))}`);
        }
      }
      if (r.post) await readForm(req, res);
      await r.handler(req, res);
      finish(res, 'ok');
      return;
    }
    refuse(req, res);
  };

  const proxyServer = http.createServer({ IncomingMessage: ProxyRequest, ServerResponse: ProxyResponse }, (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    req.pathname = q < 0 ? url : url.slice(0, q);
    res.locals = { started: process.hrtime.bigint(), excludedNs: 0n, endpoint: endpointOf(req.pathname) };
    res.on('finish', observe);
    dispatch(req, res).catch((err: unknown) => onError(err, res));
  });

  const metricsApp = express();
  metricsApp.disable('x-powered-by');
  metricsApp.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  metricsApp.get('/metrics', metricsHandler(metrics.registry));

  // Seen from outside as a plain http.Server (its request classes are the proxy's own business).
  const server = proxyServer as unknown as http.Server;
  return { server, metricsApp, metrics, limits, close: () => agent.destroy() };
}

export interface RunningTenantProxy {
  url: string;
  metricsUrl: string;
  proxy: TenantProxy;
  stop(): Promise<void>;
}

/** Starts both listeners: the API on `port`, the proxy's own metrics on `metricsPort`. */
export async function startTenantProxy(
  opts: TenantProxyOptions & { port: number; metricsPort: number; host?: string },
): Promise<RunningTenantProxy> {
  const proxy = createTenantProxy(opts);
  const api: RunningServer = await listen(proxy.server, { port: opts.port, host: opts.host, setting: 'TENANT_PROXY_PORT' });
  let own: RunningServer;
  try {
    own = await listen(proxy.metricsApp, { port: opts.metricsPort, host: opts.host, setting: 'TENANT_PROXY_METRICS_PORT' });
  } catch (err) {
    await api.close(0);
    throw err;
  }
  // Slow or idle callers do not hold sockets for long.
  api.server.requestTimeout = (proxy.limits.timeoutSeconds + 15) * 1000;
  api.server.headersTimeout = 10_000;
  return {
    url: api.url,
    metricsUrl: own.url,
    proxy,
    async stop() {
      await Promise.all([api.close(), own.close()]);
      proxy.close();
    },
  };
}
