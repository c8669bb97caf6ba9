import type { Readable } from 'node:stream';
import { Client } from 'pg';
import { describePgError, redactUrl, UserError } from '@ct/lib';
import { spawnTool, toolEnv, type Child } from './streams';

/**
 * pg_dump and pg_restore as child processes. The password travels in PGPASSWORD, never on the
 * command line (where `ps` would show it).
 */

export function splitPassword(url: string): { url: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const env = toolEnv();
  if (u.password) {
    env.PGPASSWORD = decodeURIComponent(u.password);
    u.password = '';
  }
  return { url: u.toString(), env };
}

export function databaseUrlFor(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export function spawnPgDump(url: string, opts: { snapshot?: string; binDir?: string }): Child {
  const { url: bare, env } = splitPassword(url);
  const args = ['--format=custom', '--compress=0', '--no-password'];
  if (opts.snapshot) args.push(`--snapshot=${opts.snapshot}`);
  args.push(`--dbname=${bare}`);
  return spawnTool('pg_dump', args, { env, binDir: opts.binDir });
}

/**
 * pg_restore reading the archive on stdin, all in one transaction: a failure half-way leaves the
 * target as it was. Triggers are created after the data (post-data section), so the audit log's
 * chain trigger never re-hashes restored rows.
 */
export function spawnPgRestore(url: string, opts: { clean: boolean; binDir?: string; stdinFrom?: Readable }): Child {
  const { url: bare, env } = splitPassword(url);
  const args = ['--single-transaction', '--exit-on-error', '--no-owner', '--no-privileges', '--no-password', `--dbname=${bare}`];
  if (opts.clean) args.push('--clean', '--if-exists');
  return spawnTool('pg_restore', args, { env, binDir: opts.binDir, stdinFrom: opts.stdinFrom });
}

export async function connect(url: string, what: string): Promise<Client> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'ct-backup' });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new UserError(`cannot connect to ${what} at ${redactUrl(url)}: ${describePgError(err)}`);
  }
  return client;
}

/** Tables of user schemas as "schema.table" with their exact row counts. */
export async function rowCounts(db: Pick<Client, 'query'>): Promise<Record<string, number>> {
  const { rows } = await db.query<{ s: string; t: string }>(
    `SELECT n.nspname AS s, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
     ORDER BY 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const r of rows) {
    const q = `"${r.s.replace(/"/g, '""')}"."${r.t.replace(/"/g, '""')}"`;
    const { rows: c } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${q}`);
    counts[`${r.s}.${r.t}`] = Number(c[0]!.n);
  }
  return counts;
}

/** Number of relations a restore would collide with: 0 means an empty database. */
export async function userRelationCount(db: Pick<Client, 'query'>): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
  );
  return rows[0]!.n;
}
