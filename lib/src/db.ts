import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { UserError, errorMessage } from './errors';
import { redactUrl } from './logger';

export type { Pool, PoolClient };

export interface DatabaseOptions {
  url: string;
  /** Seconds allowed to establish a connection before giving up. */
  connectTimeoutSeconds?: number;
  max?: number;
  applicationName?: string;
  /** Per-statement limit, in milliseconds; 0 disables it. */
  statementTimeoutMs?: number;
}

/**
 * A pg pool that never hangs on an unreachable server: every connection attempt is bounded, and
 * the TCP keepalive notices a server that vanished mid-session.
 */
export function createPool(opts: DatabaseOptions): Pool {
  const config: PoolConfig = {
    connectionString: opts.url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: Math.round((opts.connectTimeoutSeconds ?? 5) * 1000),
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: opts.applicationName ?? 'ct-platform',
  };
  if (opts.statementTimeoutMs) config.statement_timeout = opts.statementTimeoutMs;
  const pool = new Pool(config);
  // An idle client losing its server (restart, failover) must not crash the process; the pool
  // discards it and the next checkout reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** A pool from the validated `database` config section, as every service opens it. */
export function poolFromConfig(
  cfg: { DATABASE_URL: string; DATABASE_CONNECT_TIMEOUT: number; DATABASE_POOL_MAX: number },
  opts: { applicationName: string; max?: number; statementTimeoutMs?: number },
): Pool {
  return createPool({
    url: cfg.DATABASE_URL,
    connectTimeoutSeconds: cfg.DATABASE_CONNECT_TIMEOUT,
    max: opts.max ?? cfg.DATABASE_POOL_MAX,
    applicationName: opts.applicationName,
    statementTimeoutMs: opts.statementTimeoutMs,
  });
}

/** Checks the database answers, turning driver errors into one clear operator-facing message. */
export async function assertReachable(pool: Pool, url: string): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    throw new UserError(`cannot reach the database at ${redactUrl(url)}: ${describePgError(err)}`);
  }
}

export function describePgError(err: unknown): string {
  const msg = errorMessage(err);
  const code = (err as { code?: string }).code;
  if (code === 'ECONNREFUSED') return 'connection refused (is PostgreSQL running on that host and port?)';
  if (code === 'ENOTFOUND') return 'host not found';
  if (/timeout/i.test(msg)) return 'connection timed out';
  return msg || code || 'unknown error';
}

export interface CheckedOut {
  client: PoolClient;
  /** The error that ended the client's connection while it was checked out, if one did. */
  lost(): Error | undefined;
  /** Returns the client to the pool, or destroys it if it is `broken` or its connection was lost. */
  done(broken?: boolean): void;
}

/**
 * Checks a client out with an error listener of its own. pg-pool listens only on idle clients:
 * a connection lost while one is checked out (a restart, pg_terminate_backend, a server timeout)
 * would emit an 'error' nobody handles, which ends the process. Here it surfaces as the failure
 * of the client's next query instead.
 */
export async function checkout(pool: Pool, opts: { onLost?: (err: Error) => void } = {}): Promise<CheckedOut> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error) => {
    lost = err;
    opts.onLost?.(err);
  };
  client.on('error', onError);
  return {
    client,
    lost: () => lost,
    done: (broken = false) => {
      client.off('error', onError);
      client.release(lost ?? broken);
    },
  };
}

/** Runs `fn` in a transaction on one client: commits on success, rolls back on any error. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const { client, done } = await checkout(pool);
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A failed ROLLBACK means the connection itself is gone: destroy it rather than pool it.
    await client.query('ROLLBACK').catch(() => (broken = true));
    throw err;
  } finally {
    done(broken);
  }
}
