import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { applyAppRole, createPool, migrate, type Pool } from '@ct/lib';

/**
 * A fresh, migrated database on the bench's PostgreSQL cluster for one test file, so suites can
 * run in parallel without seeing each other's rows. drop() removes it.
 *
 * Two roles, as in production: the database is created and migrated by the owner
 * (DATABASE_OWNER_URL), and `url` is the application role's (ct_app, DATABASE_URL), which every
 * service a test starts connects with, so the suite exercises its grants. `pool` is the owner's,
 * for a test's own setup and inspection.
 */
export interface TestDatabase {
  name: string;
  /** ct_app's connection string: give it to the services under test as DATABASE_URL. */
  url: string;
  /** The owner's connection string: migrations, restores, what a service may not do. */
  ownerUrl: string;
  /** A pool connected as the owner. */
  pool: Pool;
  /** A pool connected as ct_app (opened on first use): give it to a service built in the test process. */
  readonly appPool: Pool;
  drop(): Promise<void>;
}

export function benchEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: the test bench (jest global setup or npm run stack:up) provides it`);
  return v;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The same database as `url`, as the application role (ct_app). */
export function appUrlOf(url: string): string {
  const u = new URL(url);
  u.username = 'ct_app';
  u.password = '';
  return u.toString();
}

/** Applies the migrations as the owner, then ct_app's grants, as `ct migrate` does. */
export async function migrateAsOwner(pool: Pool): Promise<void> {
  await migrate(pool, { afterApply: async (client) => void (await applyAppRole(client)) });
}

export async function createTestDatabase(opts: { migrate?: boolean; prefix?: string } = {}): Promise<TestDatabase> {
  const owner = benchEnv('DATABASE_OWNER_URL');
  const app = benchEnv('DATABASE_URL');
  const name = `${opts.prefix ?? 'test'}_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: withDatabase(owner, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const ownerUrl = withDatabase(owner, name);
  const pool = createPool({ url: ownerUrl, max: 20, applicationName: 'ct-test' });
  if (opts.migrate !== false) await migrateAsOwner(pool);
  const url = withDatabase(app, name);
  let appPool: Pool | undefined;
  return {
    name,
    url,
    ownerUrl,
    pool,
    get appPool() {
      appPool ??= createPool({ url, max: 10, applicationName: 'ct-test-app' });
      return appPool;
    },
    async drop() {
      await appPool?.end();
      await pool.end();
      const c = new Client({ connectionString: withDatabase(owner, 'postgres') });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
