import { assertReachable, poolFromConfig, loadConfig, type Pool } from '@ct/lib';

/** Opens the platform database from DATABASE_URL, failing fast with a clear message. */
export async function withDatabase<T>(fn: (pool: Pool) => Promise<T>): Promise<T> {
  const cfg = loadConfig(['database']);
  const pool = poolFromConfig(cfg, { applicationName: 'ct-cli', max: 2 });
  try {
    await assertReachable(pool, cfg.DATABASE_URL);
    return await fn(pool);
  } finally {
    await pool.end();
  }
}
