import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool, PoolClient } from 'pg';
import { UserError } from './errors';

/** The repository's migrations folder, found from this file whether it runs from src or dist. */
export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', 'migrations');

const FILE_PATTERN = /^(\d{3})_[a-z0-9_]+\.sql$/;
// Any key works as long as every runner uses the same one; this is "ct-migrate" as a number.
const MIGRATION_LOCK_KEY = 0x63742d6d;

export interface MigrationFile {
  name: string;
  sql: string;
  sha256: string;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql')).sort();
  const seen = new Map<string, string>();
  const files: MigrationFile[] = [];
  for (const name of names) {
    const m = FILE_PATTERN.exec(name);
    if (!m) throw new UserError(`migration file name ${name} does not match NNN_snake_case.sql`);
    const other = seen.get(m[1]!);
    if (other) throw new UserError(`migrations ${other} and ${name} share the number ${m[1]}`);
    seen.set(m[1]!, name);
    const sql = await readFile(path.join(dir, name), 'utf8');
    files.push({ name, sql, sha256: createHash('sha256').update(sql).digest('hex') });
  }
  return files;
}

/**
 * Applies pending migrations in file order, each in its own transaction. A session-level advisory
 * lock makes concurrent runners queue, so each file is applied exactly once; a changed applied
 * file stops everything before anything runs.
 */
export async function migrate(
  pool: Pool,
  opts: {
    dir?: string;
    log?: (line: string) => void;
    /** Runs after the pending files, still holding the migration lock (on every run, even with nothing to apply). */
    afterApply?: (client: PoolClient) => Promise<void>;
  } = {},
): Promise<MigrateResult> {
  const log = opts.log ?? (() => undefined);
  const files = await readMigrations(opts.dir);
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        name text PRIMARY KEY,
        sha256 text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ name: string; sha256: string }>('SELECT name, sha256 FROM schema_migrations');
      const applied = new Map(rows.map((r) => [r.name, r.sha256]));
      const known = new Set(files.map((f) => f.name));
      for (const name of applied.keys()) {
        if (!known.has(name)) throw new UserError(`migration ${name} is recorded as applied but its file is missing`);
      }
      for (const f of files) {
        const sum = applied.get(f.name);
        if (sum !== undefined && sum !== f.sha256) {
          throw new UserError(
            `migration ${f.name} was changed after it was applied (checksum ${sum.slice(0, 12)}… is now ${f.sha256.slice(0, 12)}…); ` +
              'put the change in a new migration instead',
          );
        }
      }
      const done: string[] = [];
      for (const f of files) {
        if (applied.has(f.name)) continue;
        log(`applying ${f.name}`);
        try {
          await client.query('BEGIN');
          await client.query(f.sql);
          await client.query('INSERT INTO schema_migrations (name, sha256) VALUES ($1, $2)', [f.name, f.sha256]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new UserError(`migration ${f.name} failed and was rolled back: ${(err as Error).message}`);
        }
        done.push(f.name);
      }
      await opts.afterApply?.(client);
      return { applied: done, alreadyApplied: applied.size };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}
