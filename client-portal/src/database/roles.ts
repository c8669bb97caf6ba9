import { escapeIdentifier, escapeLiteral, type PoolClient } from 'pg';
import { UserError, errorMessage, scramSha256Verifier } from '@ct/lib';

/**
 * The client's own PostgreSQL role, through which its Grafana organisation's "Activity" datasource
 * reads the views of schema `portal` (migration 015_create_client_portal.sql, where the design of
 * the isolation is written out). One role per client, named from its slug; it sees only that
 * client's rows, enforced by row-level security and the views, never by the SQL a panel sends.
 *
 * Every function here takes a client in an open transaction (`tx`): the caller's change and its
 * audit row commit with it, or nothing does.
 */

const SLUG = /^[a-z0-9-]{2,40}$/;

/** `ct_portal_<slug with - replaced by _>`: the role name of a client. */
export function clientRoleName(slug: string): string {
  if (!SLUG.test(slug)) throw new UserError(`not a client slug: ${JSON.stringify(slug)} (2–40 characters a–z, 0–9 and -)`);
  return `ct_portal_${slug.replace(/-/g, '_')}`;
}

function sqlState(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

/** Turns the SQL functions' refusals into messages for the operator. */
function explained(err: unknown, slug: string): unknown {
  if (sqlState(err) === 'P0002') return new UserError(`no client with slug "${slug}" in this database`);
  if (sqlState(err) === '42883' || sqlState(err) === '3F000') {
    return new UserError(`this database has no client portal schema (migration 015_create_client_portal.sql); run ct migrate`);
  }
  return err;
}

/**
 * Creates the client's role if it is missing (LOGIN, NOINHERIT, member of no role, read-only and
 * time-limited by default, at most 10 connections), repairs it if it was altered, binds it to the
 * client in `portal.client_roles`, and grants it USAGE on schema `portal` and SELECT on its views
 * — nothing else. It also puts the views back in the hands of `ct_portal_owner` if a restore
 * without owners left them elsewhere. Idempotent; safe when other databases of the cluster create
 * the same role at the same moment (roles are cluster-wide; the retry lives in the SQL function).
 * Returns the role's name.
 */
export async function ensureClientRole(tx: PoolClient, slug: string): Promise<string> {
  clientRoleName(slug);
  try {
    const { rows } = await tx.query<{ role: string }>('SELECT public.ct_portal_client_role($1) AS role', [slug]);
    return rows[0]!.role;
  } catch (err) {
    throw explained(err, slug);
  }
}

/**
 * Sets the password of the client's role (ensured first, so issuing a portal token always leaves a
 * working role). The password is sent as a SCRAM-SHA-256 verifier computed here — the way
 * `ct migrate` sets ct_dashboard_reader's — so the plaintext never reaches the server, its
 * statement log or pg_stat_activity. Roles are cluster-wide: another database setting the same
 * role's password at the same moment makes PostgreSQL answer "tuple concurrently updated"; that
 * one statement is retried under a savepoint, the caller's transaction goes on.
 */
export async function setClientRolePassword(tx: PoolClient, slug: string, password: string): Promise<void> {
  if (!/^[\x21-\x7e]{16,}$/.test(password)) {
    throw new UserError('a client role password must be at least 16 printable ASCII characters without spaces');
  }
  const role = await ensureClientRole(tx, slug);
  // A utility statement takes no bind parameters; the verifier is base64 with `$` and `:` only.
  const statement = `ALTER ROLE ${escapeIdentifier(role)} PASSWORD ${escapeLiteral(scramSha256Verifier(password))}`;
  for (let attempt = 1; ; attempt++) {
    await tx.query('SAVEPOINT ct_portal_password');
    try {
      await tx.query(statement);
      await tx.query('RELEASE SAVEPOINT ct_portal_password');
      return;
    } catch (err) {
      await tx.query('ROLLBACK TO SAVEPOINT ct_portal_password');
      if (sqlState(err) === 'XX000' && errorMessage(err) === 'tuple concurrently updated' && attempt < 10) continue;
      throw new UserError(`cannot set the password of ${role}: ${errorMessage(err)}`);
    }
  }
}

export type DroppedClientRole = 'dropped' | 'kept' | 'absent';

/**
 * Offboarding: removes the client's map row and grants in this database, ends its sessions here
 * (where the connected role may), and drops the role. `kept` means another database of the
 * cluster still grants it something, so PostgreSQL keeps the role; it has no right left in this
 * one. `absent`: there was no such role.
 */
export async function dropClientRole(tx: PoolClient, slug: string): Promise<DroppedClientRole> {
  clientRoleName(slug);
  try {
    const { rows } = await tx.query<{ outcome: DroppedClientRole }>('SELECT public.ct_portal_drop_client_role($1) AS outcome', [slug]);
    return rows[0]!.outcome;
  } catch (err) {
    throw explained(err, slug);
  }
}
