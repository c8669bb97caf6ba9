import { assertReachable, poolFromConfig, loadConfig, redactUrl, UserError, type Pool } from '@ct/lib';

/** undefined_table, undefined_column, undefined_function, undefined_object: the schema is behind. */
const MISSING_SCHEMA = new Set(['42P01', '42703', '42883', '42704']);

/**
 * Opens the platform database from DATABASE_URL, failing fast with a clear message; a database
 * the migrations have not reached (a table or function the command needs is missing) is named as such.
 */
export async function withDatabase<T>(fn: (pool: Pool) => Promise<T>): Promise<T> {
  const cfg = loadConfig(['database']);
  const pool = poolFromConfig(cfg, { applicationName: 'ct-cli', max: 2 });
  try {
    await assertReachable(pool, cfg.DATABASE_URL);
    return await fn(pool);
  } catch (err) {
    const pg = err as { code?: string; message?: string };
    if (pg.code && MISSING_SCHEMA.has(pg.code)) {
      throw new UserError(`the database at ${redactUrl(cfg.DATABASE_URL)} is not migrated (${pg.message}): run \`ct migrate\` first`);
    }
    throw err;
  } finally {
    await pool.end();
  }
}
