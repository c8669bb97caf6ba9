import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express, Request, Response } from 'express';
import type { Registry } from 'prom-client';
import { UserError } from './errors';
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE, renderMetrics } from './metrics';

export interface RunningServer {
  server: Server;
  /** Base URL, e.g. http://127.0.0.1:9464 (the real port when 0 was asked for). */
  url: string;
  port: number;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts an express app (or a node:http server); resolves once it listens. A taken port is an operator error naming the
 * address and the setting that chose it (`setting`, e.g. API_PORT).
 */
export function listen(
  app: Express | { listen(port: number, host: string): Server },
  opts: { port: number; host?: string; setting?: string },
): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const address = opts.host ?? '127.0.0.1';
    const server = isExpressApp(app) ? expressServer(app).listen(opts.port, address) : app.listen(opts.port, address);
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new UserError(
              `cannot listen on ${opts.host ?? '127.0.0.1'}:${opts.port}: the port is in use${opts.setting ? ` (${opts.setting} or --port)` : ''}`,
            )
          : err,
      );
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      const { port } = server.address() as AddressInfo;
      const host = opts.host && opts.host !== '0.0.0.0' && opts.host !== '::' ? opts.host : '127.0.0.1';
      resolve({
        server,
        port,
        url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
        close: (graceMs = 10_000) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => server.closeAllConnections(), graceMs);
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}

function isExpressApp(app: unknown): app is Express {
  return typeof app === 'function' && 'request' in app && 'response' in app && 'handle' in app;
}

/**
 * A node:http server for an express app whose requests and responses are made with the app's own
 * prototypes (app.request, app.response), so express's re-parenting of each one as it enters the
 * app (Object.setPrototypeOf) finds nothing to change.
 *
 * Why: after that re-parenting V8 kept every request's objects through the young generation's
 * collections until the next full one. Measured with --trace-gc-nvp (40,000 requests to one
 * express route): 7.7 KB promoted to the old generation per request and 5–6 ms per scavenge,
 * against 0.08 KB and 0.35 ms with the prototypes given at birth; those pauses, and the full
 * collections the promoted garbage brought on, were the API's slowest answers.
 */
function expressServer(app: Express): Server {
  return createServer(
    {
      IncomingMessage: madeWith(IncomingMessage, app.request) as typeof IncomingMessage,
      ServerResponse: madeWith(ServerResponse, app.response) as typeof ServerResponse,
    },
    app,
  );
}

/** A constructor that makes what `base` makes, with `prototype` (which inherits from base's) as the object's prototype. */
export function madeWith<A extends unknown[]>(base: new (...args: A) => object, prototype: object): unknown {
  // Node's http constructors are plain functions, which can run on an object already made with
  // the right prototype: the cheapest form for V8. Were they classes, construct through them.
  const made: { prototype: object } = /^class\b/.test(Function.prototype.toString.call(base))
    ? function construct(...args: A): object {
        return Reflect.construct(base, args, construct) as object;
      }
    : function (this: object, ...args: A): void {
        (base as unknown as (this: object, ...args: A) => void).apply(this, args);
      };
  made.prototype = prototype;
  return made;
}

/**
 * GET /metrics for a prom-client registry: OpenMetrics when the scraper asks for it (Prometheus
 * does), the text format otherwise (see renderMetrics for why renders take turns).
 */
export function metricsHandler(registry: Registry) {
  return async (req: Request, res: Response): Promise<void> => {
    const openMetrics = (req.get('accept') ?? '').includes('application/openmetrics-text');
    const body = await renderMetrics(registry, openMetrics);
    res.set('Content-Type', openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_TEXT_CONTENT_TYPE);
    res.end(body);
  };
}

/** Resolves when the process is asked to stop (SIGINT or SIGTERM). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => resolve(sig);
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}
