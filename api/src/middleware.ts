import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type RateLimitRequestHandler } from 'express-rate-limit';
import type { Logger } from '@ct/lib';
import { credentialFingerprint } from './auth';
import type { ApiMetrics } from './metrics';
import { WEBHOOK_REFUSED_CLIENTS_PER_ADDRESS } from './webhooks';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const METHODS = new Set(['GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'HEAD', 'OPTIONS']);

/** Request id (kept from X-Request-Id when it is sane), echoed back for support. */
export function requestId() {
  return (req: Request, res: Response, next: NextFunction) => {
    const given = req.get('x-request-id');
    req.id = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.set('X-Request-Id', req.id);
    next();
  };
}

/** The API's mounts, for requests no route took (refused before routing, or no such path). */
const MOUNT = /^\/api\/(?:auth|clients|automations|metrics|billing|admin|webhooks)(?=\/|$)/;

/**
 * The route template, never the raw path (bounded metric labels, no ids or slugs in logs' route
 * field). A request no route took is labelled with its mount, `/api/admin/*`: a bad credential is
 * refused before routing, and an alert on refusals at admin endpoints must still see where it
 * was aimed. Anything else is `unmatched`.
 */
export function routeTemplate(req: Request): string {
  // Set by the route on entry: an error leaving a router resets req.baseUrl, so an error answer
  // would otherwise be labelled with the route's path without its mount ("/:client").
  const entered = (req.res?.locals as { route?: unknown } | undefined)?.route;
  if (typeof entered === 'string') return entered;
  const path = (req.route as { path?: string } | undefined)?.path;
  if (typeof path !== 'string') {
    const mount = MOUNT.exec(req.originalUrl.split('?')[0] ?? '');
    return mount ? `${mount[0]}/*` : 'unmatched';
  }
  return `${req.baseUrl}${path === '/' && req.baseUrl ? '' : path}`;
}

/**
 * One log line and one histogram observation per request, when it ends. Logged: id, method,
 * route template, status, duration, actor. Never bodies, query strings, headers or tokens.
 */
export function requestLogging(logger: Logger, metrics: ApiMetrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const start = process.hrtime.bigint();
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = routeTemplate(req);
      const status = res.headersSent ? res.statusCode : 499;
      metrics.requestDuration.observe({ method: METHODS.has(req.method) ? req.method : 'OTHER', route, status: String(status) }, seconds);
      const line = { reqId: req.id, method: req.method, route, status, ms: Math.round(seconds * 1000), actor: req.principal?.actor };
      if (status >= 500) logger.error(line, 'request failed');
      else logger.info(line, 'request');
    });
    next();
  };
}

function limited(metrics: ApiMetrics, what: string) {
  return (_req: Request, res: Response) => {
    metrics.rateLimited.inc();
    res
      .status(429)
      .json({ error: 'rate_limited', message: `too many requests ${what}; retry after the Retry-After seconds`, requestId: _req.id });
  };
}

const unlimited = (req: Request) => req.path === '/healthz';
const isWebhook = (req: Request) => req.path.startsWith('/api/webhooks/');

/**
 * The webhook a path reaches, as the router will see it: percent-decoded, without trailing
 * slashes, so `pizza%2Dshop` and `pizza-shop/` share `pizza-shop`'s limit.
 */
function webhookTarget(req: Request): string {
  let p = req.path.slice(0, 200);
  try {
    p = decodeURIComponent(p);
  } catch {
    /* undecodable: the router refuses it; limited under its raw form */
  }
  return p.replace(/\/+$/, '').toLowerCase();
}

/**
 * Rate limits, before authentication so floods of bad credentials are limited too:
 * - per IP for everything but webhooks and /healthz;
 * - per credential (a digest of it, or the Grafana user behind a valid proxy secret) for
 *   authenticated calls;
 * - webhooks: one n8n server posts for every client, so they are never limited by address alone.
 *   Refused posts (bad signature, unknown or churned client, invalid body, over quota) count per
 *   sending address *and* target client: a client whose workflow keeps failing locks out only its
 *   own posts from that address. A global bound per address (refusals of at least
 *   WEBHOOK_REFUSED_CLIENTS_PER_ADDRESS clients; one client's are cut off by its own limit first)
 *   stops a sender spraying made-up slugs. Accepted posts count per client only.
 */
export function rateLimits(
  metrics: ApiMetrics,
  o: { perIp: number; perKey: number; perWebhookClient: number; grafanaProxySecret?: string },
): RateLimits {
  const common = { windowMs: 60_000, standardHeaders: 'draft-7' as const, legacyHeaders: false };
  const perIp = rateLimit({
    ...common,
    limit: o.perIp,
    skip: (req) => unlimited(req) || isWebhook(req),
    handler: limited(metrics, 'from this address'),
  });
  const refusedPerAddressAndClient = rateLimit({
    ...common,
    limit: o.perIp,
    skip: (req) => !isWebhook(req),
    skipSuccessfulRequests: true,
    keyGenerator: (req) => `webhook-refused:${ipKeyGenerator(req.ip ?? '')}:${webhookTarget(req)}`,
    handler: limited(metrics, 'refused from this address for this client webhook'),
  });
  const refusedPerAddress = rateLimit({
    ...common,
    // A client stopped by the limit above no longer reaches this one: it cannot use it up alone.
    limit: o.perIp * WEBHOOK_REFUSED_CLIENTS_PER_ADDRESS,
    skip: (req) => !isWebhook(req),
    skipSuccessfulRequests: true,
    keyGenerator: (req) => `webhook-refused:${ipKeyGenerator(req.ip ?? '')}`,
    handler: limited(metrics, 'refused from this address'),
  });
  const perCredential = rateLimit({
    ...common,
    limit: o.perKey,
    skip: (req) => unlimited(req) || isWebhook(req) || credentialFingerprint(req, o.grafanaProxySecret) === undefined,
    keyGenerator: (req) => `cred:${credentialFingerprint(req, o.grafanaProxySecret)}`,
    handler: limited(metrics, 'for these credentials'),
  });
  const perWebhookClient = rateLimit({
    ...common,
    limit: o.perWebhookClient,
    skip: (req) => !isWebhook(req),
    // Only accepted posts count: refused ones (anyone can send them) must not use up a
    // client's allowance; the per-address-and-client limit above takes those.
    skipFailedRequests: true,
    keyGenerator: (req) => `webhook:${webhookTarget(req)}`,
    handler: limited(metrics, 'for this client webhook'),
  });
  const forWebhooks = [refusedPerAddressAndClient, refusedPerAddress, perWebhookClient];
  const webhookLimits = inOrder(forWebhooks);
  const otherLimits = inOrder([perIp, perCredential]);
  return {
    // Each limiter would also skip what is not its own (see skip above), but only after an async
    // call of its own: running only the ones that apply spares every request three of them.
    middleware: (req, res, next) => (isWebhook(req) ? webhookLimits : otherLimits)(req, res, next),
    forWebhooks,
  };
}

export interface RateLimits {
  /** What the app uses: a webhook post meets the limiters of forWebhooks, any other request the per-address and per-credential ones, in order. */
  middleware: RequestHandler;
  /** The limiters of webhook posts, in order (the webhook fast path runs these). */
  forWebhooks: RateLimitRequestHandler[];
}

/** Runs middleware one after the other, as express would; the first error goes to next. */
export function inOrder(handlers: RequestHandler[]): RequestHandler {
  return (req, res, next) => {
    let i = 0;
    const step = (err?: unknown) => {
      if (err) return next(err);
      const handler = handlers[i++];
      if (!handler) return next();
      void handler(req, res, step);
    };
    step();
  };
}

/**
 * Cache-Control: no-store on every answer, set before anything can answer (a 429 included):
 * tokens, API keys, webhook secrets and every client's data must not stay in a browser or
 * proxy cache, and nothing the API serves is worth caching.
 */
export function noStore() {
  return (_req: Request, res: Response, next: NextFunction) => {
    res.set('Cache-Control', 'no-store');
    next();
  };
}
