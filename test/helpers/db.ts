import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createPool, migrate, type Pool } from '@ct/lib';

/**
 * A fresh, migrated database on the bench's PostgreSQL cluster for one test file, so suites can
 * run in parallel without seeing each other's rows. drop() removes it.
 */
export interface TestDatabase {
  name: string;
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

export function benchEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: the test bench (jest global setup or npm run stack:up) provides it`);
  return v;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function createTestDatabase(opts: { migrate?: boolean; prefix?: string } = {}): Promise<TestDatabase> {
  const base = benchEnv('DATABASE_URL');
  const name = `${opts.prefix ?? 'test'}_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: withDatabase(base, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(base, name);
  const pool = createPool({ url, max: 20, applicationName: 'ct-test' });
  if (opts.migrate !== false) await migrate(pool);
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      const c = new Client({ connectionString: withDatabase(base, 'postgres') });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
