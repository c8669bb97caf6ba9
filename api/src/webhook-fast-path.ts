import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { inOrder } from './middleware';
import type { WebhookIngest } from './webhooks';

/**
 * POST /api/webhooks/n8n/<client>, served ahead of express's router.
 *
 * Why it bypasses express: webhook ingest is the API's hot path, and a CPU profile showed about
 * two thirds of a post spent in express's per-request machinery (the router matching every layer
 * in turn, helmet rebuilding the same headers, the body parser's negotiation), far more than the
 * signature, validation and database write together. This path does what the express stack does
 * for this one route, in the same order and with the same instances (so the same rate-limit
 * counters, metrics, batcher and error answers), on express's own request and response objects,
 * only without routing: request id, request logging and metrics, helmet's headers (computed once
 * at start by asking helmet for them), Cache-Control: no-store, CORS, the rate limiters, the raw
 * body, the webhook handler, and the error handler.
 *
 * It takes only the route's plain form: a POST whose path is exactly /api/webhooks/n8n/<slug>
 * with a well-formed slug. Anything else (other methods, other paths, upper case, percent-encoding,
 * trailing slashes, malformed slugs) goes through express as before, so those answers cannot differ.
 */

const PLAIN_ROUTE = /^\/api\/webhooks\/n8n\/([a-z0-9-]{2,40})(?:\?|$)/;
/** What express's router leaves on a request that reached the webhook route (read by request logging). */
const ROUTE = Object.freeze({ path: '/n8n/:client' });
const MOUNT = '/api/webhooks';

export interface WebhookFastPathParts {
  /** The express app: its request/response prototypes and settings (trust proxy, json spaces…). */
  app: Express;
  /** The express stack's middleware instances, in the order the app uses them (of the rate limiters, those that apply to webhooks). */
  requestId: RequestHandler;
  requestLogging: RequestHandler;
  helmet: RequestHandler;
  noStore: RequestHandler;
  cors: RequestHandler;
  rateLimits: RequestHandler[];
  ingest: WebhookIngest;
  errorHandler: ErrorRequestHandler;
}

type Handle = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/** Puts the fast path in front of the app's own request handling (what every listener of the app calls). */
export function serveWebhooksAheadOfExpress(p: WebhookFastPathParts): void {
  const take = webhookFastPath(p);
  const entry = p.app as unknown as { handle: Handle };
  const viaExpress = entry.handle.bind(p.app);
  entry.handle = (req, res, next) => {
    if (!take(req, res)) viaExpress(req, res, next);
  };
}

/** take(req, res): true when it answers the request, false when express must (nothing touched then). */
function webhookFastPath(p: WebhookFastPathParts): (req: IncomingMessage, res: ServerResponse) => boolean {
  const securityHeaders = headersSetBy(p.helmet);
  const rateLimits = inOrder(p.rateLimits);

  return (rawReq, rawRes) => {
    if (rawReq.method !== 'POST') return false;
    const match = PLAIN_ROUTE.exec(rawReq.url ?? '');
    if (!match) return false;

    // What express's app.handle does before routing (X-Powered-By is disabled).
    const req = rawReq as Request;
    const res = rawRes as Response;
    req.res = res;
    res.req = req;
    Object.setPrototypeOf(req, p.app.request);
    Object.setPrototypeOf(res, p.app.response);
    if (!res.locals) res.locals = Object.create(null);
    req.originalUrl = req.url;
    req.baseUrl = '';
    // The client address by the trust-proxy rules, worked out once (express's getter redoes it on each read).
    Object.defineProperty(req, 'ip', { value: req.ip, enumerable: true, configurable: true, writable: true });

    const fail = (err: unknown) => p.errorHandler(err, req, res, noop);
    const noNext: NextFunction = noop;
    p.requestId(req, res, noNext);
    p.requestLogging(req, res, noNext);
    for (const [name, value] of securityHeaders) res.setHeader(name, value);
    p.noStore(req, res, noNext);

    // The route, as express's router enters it: under the mount, with the decoded parameter.
    const route = () => {
      req.baseUrl = MOUNT;
      req.url = req.url.slice(MOUNT.length);
      req.route = ROUTE;
      req.params = { client: match[1]! };
      p.ingest.readBody(req, res, (err?: unknown) => {
        if (err) return leaveRoute(err);
        p.ingest.handle(req, res).catch(leaveRoute);
      });
    };
    // An error leaving the webhook router: its error middleware counts it, then express's router
    // restores the path before the app's error handler answers (as request logging sees it).
    const leaveRoute = (err: unknown) => {
      p.ingest.countBodyError(err);
      req.baseUrl = '';
      req.url = req.originalUrl;
      fail(err);
    };
    const afterLimits = (err?: unknown) => (err ? fail(err) : route());
    p.cors(req, res, (err?: unknown) => (err ? fail(err) : rateLimits(req, res, afterLimits)));
    return true;
  };
}

function noop() {}

/** The headers a middleware sets on every answer (helmet's: they depend on nothing in the request). */
function headersSetBy(mw: RequestHandler): Array<[string, string | string[]]> {
  const headers = new Map<string, [string, string | string[]]>();
  const res = {
    setHeader(name: string, value: string | number | string[]) {
      headers.set(name.toLowerCase(), [name, typeof value === 'number' ? String(value) : value]);
      return res;
    },
    removeHeader(name: string) {
      headers.delete(name.toLowerCase());
    },
    getHeader: (name: string) => headers.get(name.toLowerCase())?.[1],
  };
  let called = false;
  mw({ headers: {} } as Request, res as unknown as Response, () => (called = true));
  if (!called) throw new Error('the security headers middleware did not finish synchronously');
  return [...headers.values()];
}
