/**
 * The benchmark's ceiling: the API exactly as `ct serve api` builds it (same settings, middleware,
 * signature check, validation, metrics and logging), except that the webhook's INSERT is answered
 * at once as if every event had been stored, without reaching PostgreSQL. What it serves per second
 * is the most one Node.js process can ingest on this machine, whatever the database does.
 * Everything else (the client and secret lookups) still queries the real database.
 *
 *   node --import tsx api/bench/no-write-server.ts <port>    (configured by the same environment as ct serve api)
 *
 * With `bare` after the port, the floor instead: a node:http server that reads each post's body
 * and answers 201 with a small JSON body, and nothing else (no express, no signature, no
 * validation); a GET is answered 200 with the file named by BENCH_BARE_GET_BODY (a page the API
 * served); its internal port answers /readyz only.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createLogger, keyringFromConfig, listen, N8nClient, poolFromConfig, type Pool } from '@ct/lib';
import { createApp, loadApiConfig, settingsFromConfig } from '@ct/api';
import { INSERT_BATCH_STATEMENT } from '../src/event-batcher';

async function bare(port: number, internalPort: number): Promise<void> {
  let id = 0;
  const page = process.env.BENCH_BARE_GET_BODY ? readFileSync(process.env.BENCH_BARE_GET_BODY) : Buffer.from('{}');
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': page.length }).end(page);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ status: 'stored', id: String(++id), secretVersion: Buffer.concat(chunks).length > 0 ? 1 : 0 });
      res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  const internal = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}'));
  const listening = (s: Server, p: number) => new Promise<void>((resolve) => s.listen(p, '127.0.0.1', resolve));
  await Promise.all([listening(server, port), listening(internal, internalPort)]);
  const stop = () => {
    server.close();
    internal.close();
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  if (process.argv[3] === 'bare') return bare(port, Number(process.env.API_INTERNAL_PORT));
  const cfg = loadApiConfig();
  const logger = createLogger({ level: cfg.LOG_LEVEL, format: cfg.LOG_FORMAT, name: 'api' });
  const pool = poolFromConfig(cfg, { applicationName: 'ct-api-no-write', statementTimeoutMs: 30_000 });
  let id = 0;
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  const noWrite = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'query')
        return (q: unknown, ...rest: unknown[]) => {
          const c = q as { name?: string; values?: unknown[][] };
          if (c?.name !== INSERT_BATCH_STATEMENT) return query(q, ...rest);
          const keys = c.values![4] as string[];
          return Promise.resolve({ rows: keys.map((k) => ({ id: String(++id), idempotency_key: k })) });
        };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Pool;
  const { app, internal } = createApp({
    pool: noWrite,
    n8n: new N8nClient({ url: cfg.N8N_URL, apiKey: cfg.N8N_API_KEY, timeoutSeconds: cfg.N8N_TIMEOUT }),
    keyring: keyringFromConfig(cfg),
    logger,
    settings: settingsFromConfig(cfg),
  });
  const server = await listen(app, { port });
  const internalServer = await listen(internal, { port: cfg.API_INTERNAL_PORT });
  const stop = async () => {
    await Promise.all([server.close(), internalServer.close()]);
    await pool.end();
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((err) => {
  process.stderr.write(`no-write server failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
