import type { PoolClient } from 'pg';
import { z } from 'zod';
import { durationSeconds, parseEnv, postgresUrl, sections } from './config';
import { setRolePassword, type RolePassword } from './dashboard-reader';
import { UserError } from './errors';

/**
 * ct_app: the role every service connects as (DATABASE_URL), with only the rights listed in the
 * table app_role_grants (migration 017). `ct migrate`, connected as the owner, re-applies them on
 * every run and sets the role's password from APP_DB_PASSWORD.
 */
export const APP_ROLE = 'ct_app';

export interface AppRoleResult {
  password: RolePassword;
  /** Rows of app_role_grants naming an object this database does not have. */
  missing: string[];
}

/**
 * CALL ct_app_grants() (creates the role if the cluster lacks it, puts its attributes back and
 * makes its rights here exactly what app_role_grants lists), then the password. Run it under the
 * migration lock, after the pending migrations and after applyDashboardReader(), which takes from
 * PUBLIC the EXECUTE that a database restored without privileges gives it back (ct_app would hold
 * it through PUBLIC, and ct_app_grants() refuses that).
 */
export async function applyAppRole(db: PoolClient, opts: { password?: string } = {}): Promise<AppRoleResult> {
  const { rows } = await db.query<{ present: boolean }>(`SELECT to_regprocedure('public.ct_app_grants()') IS NOT NULL AS present`);
  if (!rows[0]!.present) throw new UserError('this database has no ct_app_grants() (migration 017_create_app_role.sql); run ct migrate');
  try {
    await db.query('CALL public.ct_app_grants()');
  } catch (err) {
    if ((err as { code?: string }).code === '42501') {
      throw new UserError(
        `cannot create or repair the role ${APP_ROLE} (${(err as Error).message}): run ct migrate as a superuser ` +
          '(DATABASE_OWNER_URL), which creating a BYPASSRLS role takes',
      );
    }
    throw err;
  }
  const { rows: missing } = await db.query<{ name: string }>(
    `SELECT object_type || ' ' || object_name AS name FROM public.app_role_grants
      WHERE CASE object_type WHEN 'relation' THEN to_regclass(object_name) IS NULL
                             WHEN 'function' THEN to_regprocedure(object_name) IS NULL
                             ELSE to_regnamespace(object_name) IS NULL END
      ORDER BY 1`,
  );
  const password = opts.password === undefined ? 'not-configured' : await setRolePassword(db, APP_ROLE, opts.password, 'APP_DB_PASSWORD');
  return { password, missing: missing.map((r) => r.name) };
}

/**
 * What `ct migrate` needs: the owner's connection (DATABASE_OWNER_URL, else DATABASE_URL) and the
 * two role passwords, all checked together before anything changes (a weak password stops the
 * run, not half of it).
 */
const migrateSchema = z
  .object({ DATABASE_URL: postgresUrl.optional(), DATABASE_CONNECT_TIMEOUT: durationSeconds.default(5) })
  .extend(sections.owner.shape)
  .extend(sections.dashboard.shape)
  .refine((c) => c.DATABASE_OWNER_URL !== undefined || c.DATABASE_URL !== undefined, {
    path: ['DATABASE_URL'],
    message: 'is required (or DATABASE_URL): migrations run as the database owner',
  });

export function loadMigrateConfig(env: NodeJS.ProcessEnv = process.env) {
  const cfg = parseEnv(migrateSchema, env);
  return { ...cfg, ownerUrl: (cfg.DATABASE_OWNER_URL ?? cfg.DATABASE_URL)! };
}
