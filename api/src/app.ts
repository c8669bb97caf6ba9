import cors from 'cors';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { metricsHandler, type Logger, type N8nClient, type Pool, type SecretKeyring } from '@ct/lib';
import { authenticate } from './auth';
import { errorHandler, HttpError } from './errors';
import { createApiMetrics, type ApiMetrics } from './metrics';
import { noStore, rateLimits, requestId, requestLogging } from './middleware';
import { buildOpenApi } from './openapi';
import { ApiRouter, type RegisteredRoute } from './route';
import { adminRoutes } from './routes/admin';
import { authRoutes } from './routes/auth';
import { automationRoutes } from './routes/automations';
import { billingRoutes } from './routes/billing';
import { clientRoutes } from './routes/clients';
import { statusRoutes } from './routes/status';
import type { ApiSettingsForRoutes, ForceBackup, RouteDeps } from './routes/common';
import { usageRoutes } from './routes/usage';
import { serveWebhooksAheadOfExpress } from './webhook-fast-path';
import { WebhookSecretCache, webhookIngest, webhookRouter } from './webhooks';

export interface AppOptions {
  pool: Pool;
  n8n: N8nClient;
  keyring: SecretKeyring;
  logger: Logger;
  settings: ApiSettingsForRoutes & {
    corsOrigins: string[];
    rateLimitPerIp: number;
    rateLimitPerKey: number;
    webhookRateLimit: number;
    /** express "trust proxy": a hop count or the proxies' addresses/subnets (API_TRUST_PROXY); never true. */
    trustProxy: false | number | string[];
    grafanaProxySecret?: string;
    /** false: POST /api/webhooks/n8n/<client> goes through express too (default: the fast path ahead of it). */
    webhookFastPath?: boolean;
  };
  /** The backup module's "start a backup now"; absent → POST /api/admin/backups answers 501. */
  forceBackup?: ForceBackup;
}

export interface ApiApp {
  /** The public listener: /healthz and /api. */
  app: Express;
  /** The internal listener (API_INTERNAL_PORT): /metrics (every client slug is in it) and /readyz. */
  internal: Express;
  metrics: ApiMetrics;
  routes: RegisteredRoute[];
  openapi: Record<string, unknown>;
}

const VERSION = '0.1.0';

export function createApp(o: AppOptions): ApiApp {
  const metrics = createApiMetrics();
  const registry: RegisteredRoute[] = [];
  const webhookCache = new WebhookSecretCache(o.pool, o.keyring);
  const deps: RouteDeps = { ...o, metrics, webhookCache, registry };

  const trustProxy = o.settings.trustProxy as unknown;
  if (trustProxy === true || !(trustProxy === false || Number.isInteger(trustProxy) || Array.isArray(trustProxy)))
    throw new Error('trustProxy must be a hop count or a list of proxy addresses: true would believe any X-Forwarded-For');

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', o.settings.trustProxy);
  app.set('query parser', 'simple');
  // Every answer is Cache-Control: no-store, so an ETag (a hash of each body) would never be used.
  app.set('etag', false);

  // The security stack, in order: request id + logging, headers (no-store), CORS, rate limits, authentication.
  // (Each kept in a constant: the webhook fast path below runs the same instances.)
  const stack = {
    requestId: requestId(),
    requestLogging: requestLogging(o.logger, metrics),
    helmet: helmet(),
    noStore: noStore(),
    cors: cors({ origin: o.settings.corsOrigins.length ? o.settings.corsOrigins : false }),
    rateLimits: rateLimits(metrics, {
      perIp: o.settings.rateLimitPerIp,
      perKey: o.settings.rateLimitPerKey,
      perWebhookClient: o.settings.webhookRateLimit,
      grafanaProxySecret: o.settings.grafanaProxySecret,
    }),
  };
  app.use(stack.requestId);
  app.use(stack.requestLogging);
  app.use(stack.helmet);
  app.use(stack.noStore);
  app.use(stack.cors);
  app.use(stack.rateLimits.middleware);

  // Liveness only: probes reach it from outside. /metrics and /readyz are on the internal listener.
  app.get('/healthz', healthz);

  // Webhooks authenticate by signature, before any JSON parsing (the signature covers raw bytes).
  const ingest = webhookIngest({ pool: o.pool, metrics, cache: webhookCache });
  app.use('/api/webhooks', webhookRouter(ingest));
  // Nothing else lives there: no credential is looked at (and tried for free) under this path.
  app.use(
    '/api/webhooks',
    (req, res) =>
      void res.status(404).json({ error: 'not_found', message: 'no such webhook: POST /api/webhooks/n8n/<client>', requestId: req.id }),
  );

  app.use(authenticate(o.pool, { ...o.settings, grafanaProxySecret: o.settings.grafanaProxySecret }, metrics));
  app.use(express.json({ limit: '100kb', strict: false, type: ['application/json', 'application/*+json'] }));

  const mount = (prefix: string, tag: string, register: (r: ApiRouter, d: RouteDeps) => void) => {
    const r = new ApiRouter(prefix, tag, registry, metrics);
    register(r, deps);
    app.use(prefix, r.router);
  };
  mount('/api/auth', 'auth', authRoutes);
  mount('/api/clients', 'clients', clientRoutes);
  mount('/api/automations', 'automations', automationRoutes);
  mount('/api/metrics', 'metrics', usageRoutes);
  mount('/api/billing', 'billing', billingRoutes);
  mount('/api/admin', 'admin', adminRoutes);
  mount('/api/admin', 'admin', (r, d) => statusRoutes(r, d, VERSION));

  const openapi = buildOpenApi(registry, { version: VERSION });
  app.get('/api/openapi.json', (_req, res) => void res.json(openapi));

  app.use((req: Request, _res: Response, next: NextFunction) =>
    next(new HttpError(404, 'not_found', `no route ${req.method} ${req.path.slice(0, 200)}`)),
  );
  const errors = errorHandler(o.logger);
  app.use(errors);

  // POST /api/webhooks/n8n/<client> is answered ahead of express's router, by the same middleware
  // instances without the routing (express's per-request machinery was most of a post's cost):
  // see webhook-fast-path.ts. Every other request goes through express.
  if (o.settings.webhookFastPath !== false)
    serveWebhooksAheadOfExpress({ app, ...stack, rateLimits: stack.rateLimits.forWebhooks, ingest, errorHandler: errors });
  return { app, internal: internalApp(o.pool, metrics), metrics, routes: registry, openapi };
}

const healthz = (_req: Request, res: Response) => void res.json({ status: 'ok' });

/**
 * What only the platform's own network may read: the metrics (they name every client) and the
 * readiness check (it says whether the database answers). Exact, case-sensitive paths.
 */
function internalApp(pool: Pool, metrics: ApiMetrics): Express {
  const internal = express();
  internal.disable('x-powered-by');
  internal.set('case sensitive routing', true);
  internal.set('strict routing', true);
  internal.get('/healthz', healthz);
  internal.get('/readyz', async (_req, res) => {
    try {
      await pool.query({ text: 'SELECT 1', query_timeout: 2000 } as never);
      res.json({ status: 'ready', database: 'reachable' });
    } catch {
      res.status(503).set('Retry-After', '5').json({ status: 'not ready', database: 'unreachable' });
    }
  });
  internal.get('/metrics', metricsHandler(metrics.registry));
  internal.use(
    (req, res) => void res.status(404).json({ error: 'not_found', message: `no route ${req.method} ${req.path.slice(0, 200)}` }),
  );
  return internal;
}
