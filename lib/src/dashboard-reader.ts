import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { escapeIdentifier, escapeLiteral, type PoolClient } from 'pg';
import { UserError, errorMessage } from './errors';

/**
 * ct_dashboard_reader: the read-only role Grafana's admin dashboards read the platform database
 * with (migration 014). `ct migrate` re-applies its grants on every run and sets its password from
 * DASHBOARD_DB_PASSWORD.
 */
export const DASHBOARD_READER_ROLE = 'ct_dashboard_reader';

/** PostgreSQL's iteration count and salt length for SCRAM-SHA-256 (scram_iterations' default). */
export const SCRAM_ITERATIONS = 4096;
const SCRAM_SALT_BYTES = 16;
const VERIFIER = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$/;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802 keys in RFC 5803's text
 * form, as PostgreSQL writes it: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`).
 * `ALTER ROLE ... PASSWORD` given a verifier stores it as it is, so the password itself never
 * reaches the server, its statement log or pg_stat_activity.
 *
 * PostgreSQL normalises a password with SASLprep first. SASLprep leaves printable ASCII as it is,
 * and only such passwords are accepted here, so this computes exactly the server's verifier.
 */
export function scramSha256Verifier(password: string, opts: { salt?: Buffer; iterations?: number } = {}): string {
  if (!/^[\x20-\x7e]+$/.test(password)) throw new UserError('a SCRAM verifier is computed here for printable ASCII passwords only');
  const salt = opts.salt ?? randomBytes(SCRAM_SALT_BYTES);
  const iterations = opts.iterations ?? SCRAM_ITERATIONS;
  // Hi() of RFC 5802 is PBKDF2 with HMAC-SHA-256 and one output block.
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Whether a stored SCRAM-SHA-256 verifier was made from `password` (false for anything else). */
export function scramVerifierMatches(verifier: string, password: string): boolean {
  const m = VERIFIER.exec(verifier);
  if (!m || !/^[\x20-\x7e]+$/.test(password)) return false;
  const again = Buffer.from(scramSha256Verifier(password, { salt: Buffer.from(m[2]!, 'base64'), iterations: Number(m[1]) }));
  const stored = Buffer.from(verifier);
  return again.length === stored.length && timingSafeEqual(again, stored);
}

export type DashboardReaderPassword = RolePassword;
/** What setting a role's password from the environment did. */
export type RolePassword = 'set' | 'unchanged' | 'not-configured';

function concurrentlyUpdated(err: unknown): boolean {
  return (err as { code?: string }).code === 'XX000' && errorMessage(err) === 'tuple concurrently updated';
}

/**
 * Re-applies the role's grants in this database (CALL ct_dashboard_reader_grants(), which also
 * creates the role on a cluster that lacks it) and, given a password, sets it as a SCRAM verifier
 * unless the role already has that password. Run it under the migration lock: grants of one
 * database must not race each other.
 */
export async function applyDashboardReader(db: PoolClient, opts: { password?: string } = {}): Promise<DashboardReaderPassword> {
  const { rows } = await db.query<{ present: boolean }>(
    `SELECT to_regprocedure('public.ct_dashboard_reader_grants()') IS NOT NULL AS present`,
  );
  if (!rows[0]!.present) {
    throw new UserError('this database has no ct_dashboard_reader_grants() (migration 014_create_dashboard_reader.sql); run ct migrate');
  }
  await db.query('CALL public.ct_dashboard_reader_grants()');
  if (opts.password === undefined) return 'not-configured';
  return setRolePassword(db, DASHBOARD_READER_ROLE, opts.password, 'DASHBOARD_DB_PASSWORD');
}

/**
 * Sets a platform role's password as a SCRAM verifier, unless the role already has that password
 * (which only a superuser can tell: any other owner sets it every time). Roles are cluster-wide:
 * another database setting the same role's password at the same moment makes PostgreSQL answer
 * "tuple concurrently updated", and the loser of that race looks again. `variable` names where the
 * password came from, for the error message (the password itself never appears in one).
 */
export async function setRolePassword(db: PoolClient, role: string, password: string, variable: string): Promise<'set' | 'unchanged'> {
  for (let attempt = 1; ; attempt++) {
    const { rows: can } = await db.query<{ read: boolean }>(`SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS read`);
    if (can[0]!.read) {
      const { rows: cur } = await db.query<{ rolpassword: string | null }>(
        'SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1',
        [role],
      );
      if (cur[0]?.rolpassword && scramVerifierMatches(cur[0].rolpassword, password)) return 'unchanged';
    }
    try {
      // A utility statement takes no bind parameters; the verifier is base64, `$` and `:` only.
      await db.query(`ALTER ROLE ${escapeIdentifier(role)} PASSWORD ${escapeLiteral(scramSha256Verifier(password))}`);
      return 'set';
    } catch (err) {
      if (concurrentlyUpdated(err) && attempt < 10) continue;
      throw new UserError(`cannot set the password of ${role} from ${variable}: ${errorMessage(err)}`);
    }
  }
}
