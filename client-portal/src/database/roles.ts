import type { PoolClient } from 'pg';
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
    return new UserError(`this database lacks the client portal's schema or functions (migrations 015 to 022); run ct migrate`);
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
  // Through ct_portal_set_client_role_password (migration 017): the platform's role may not alter
  // roles itself, and this function alters only a client role of this database.
  const verifier = scramSha256Verifier(password);
  for (let attempt = 1; ; attempt++) {
    await tx.query('SAVEPOINT ct_portal_password');
    try {
      await tx.query('SELECT public.ct_portal_set_client_role_password($1, $2)', [slug, verifier]);
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

type Queryable = Pick<PoolClient, 'query'>;

/**
 * What ensureClientRole and dropClientRole look after, read without changing anything: compare two
 * readings (before and after a call, in one transaction) to know what the call changed. Each fact
 * is comparable text; `null` where there is nothing (no role, no map row).
 */
export interface ClientRoleState {
  role: string;
  exists: boolean;
  canLogin: boolean;
  /**
   * Whether the role has a password, asked of ct_portal_client_role_has_password (migration 022):
   * pg_authid is readable by a superuser only, and that function answers yes or no, never the
   * verifier. Null when there is no role, or it is not bound to this client here (yet).
   */
  hasPassword: boolean | null;
  facts: {
    /** login, superuser, inherit, createrole, createdb, replication, bypassrls, connection limit */
    attributes: string | null;
    memberOf: string | null;
    settings: string | null;
    /** The client it is bound to in this database (portal.client_roles). */
    mappedClient: string | null;
    schemaUsage: boolean | null;
    /** The views of schema `portal` it may read. */
    views: string | null;
    /** Views of `portal` not owned by ct_portal_owner (database-wide: ensureClientRole repairs them). */
    foreignOwnedViews: string | null;
    /** How many columns of the four tables ct_portal_owner may read (database-wide, likewise). */
    ownerColumns: string;
  };
}

export async function clientRoleState(db: Queryable, slug: string): Promise<ClientRoleState> {
  const role = clientRoleName(slug);
  try {
    const { rows } = await db.query<{
      exists: boolean;
      can_login: boolean | null;
      attributes: string | null;
      member_of: string | null;
      settings: string | null;
      mapped_client: string | null;
      schema_usage: boolean | null;
      views: string | null;
      foreign_owned_views: string | null;
      owner_columns: string;
      has_password: boolean | null;
    }>(
      `WITH r AS (SELECT * FROM pg_catalog.pg_roles WHERE rolname = $1),
            o AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = 'ct_portal_owner'),
            v AS (SELECT c.oid, c.relname, c.relowner FROM pg_catalog.pg_class c
                   WHERE c.relnamespace = 'portal'::regnamespace AND c.relkind IN ('v', 'm'))
       SELECT EXISTS (SELECT FROM r) AS exists,
              (SELECT rolcanlogin FROM r) AS can_login,
              (SELECT concat_ws(',', rolcanlogin, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolconnlimit)
                 FROM r) AS attributes,
              (SELECT string_agg(pg_get_userbyid(m.roleid)::text, ',' ORDER BY 1)
                 FROM pg_catalog.pg_auth_members m JOIN r ON m.member = r.oid) AS member_of,
              (SELECT array_to_string(array(SELECT unnest(s.setconfig) ORDER BY 1), ',')
                 FROM pg_catalog.pg_db_role_setting s JOIN r ON s.setrole = r.oid WHERE s.setdatabase = 0) AS settings,
              (SELECT m.client_id::text FROM portal.client_roles m WHERE m.role = $1) AS mapped_client,
              (SELECT has_schema_privilege(r.oid, 'portal', 'USAGE') FROM r) AS schema_usage,
              (SELECT string_agg(v.relname::text, ',' ORDER BY v.relname) FROM v, r WHERE has_table_privilege(r.oid, v.oid, 'SELECT')) AS views,
              (SELECT string_agg(v.relname::text, ',' ORDER BY v.relname) FROM v
                WHERE v.relowner IS DISTINCT FROM (SELECT oid FROM o)) AS foreign_owned_views,
              (SELECT count(*) FROM pg_catalog.pg_attribute a, o
                WHERE a.attrelid IN ('public.clients'::regclass, 'public.activity_events'::regclass,
                                     'public.invoices'::regclass, 'public.automations'::regclass)
                  AND a.attnum > 0 AND NOT a.attisdropped
                  AND has_column_privilege(o.oid, a.attrelid, a.attnum, 'SELECT'))::text AS owner_columns,
              public.ct_portal_client_role_has_password($2) AS has_password`,
      [role, slug],
    );
    const r = rows[0]!;
    return {
      role,
      exists: r.exists,
      canLogin: r.can_login === true,
      hasPassword: r.has_password,
      facts: {
        attributes: r.attributes,
        memberOf: r.member_of,
        settings: r.settings,
        mappedClient: r.mapped_client,
        schemaUsage: r.schema_usage,
        views: r.views,
        foreignOwnedViews: r.foreign_owned_views,
        ownerColumns: r.owner_columns,
      },
    };
  } catch (err) {
    throw explained(err, slug);
  }
}

/** The facts that differ between two readings of clientRoleState. */
export function clientRoleChanges(before: ClientRoleState, after: ClientRoleState): Array<keyof ClientRoleState['facts']> {
  return (Object.keys(after.facts) as Array<keyof ClientRoleState['facts']>).filter((k) => before.facts[k] !== after.facts[k]);
}

/**
 * What dropClientRole would answer, without doing it (for a dry run): `kept` when anything outside
 * this database's portal grants depends on the role — another database's grants or objects, a
 * right on a database or tablespace — so PostgreSQL would refuse to drop it.
 */
export async function predictDropClientRole(db: Queryable, slug: string): Promise<DroppedClientRole> {
  const role = clientRoleName(slug);
  const { rows } = await db.query<{ exists: boolean; kept: boolean }>(
    `WITH r AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1),
          here AS (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
     SELECT EXISTS (SELECT FROM r) AS exists,
            EXISTS (SELECT FROM pg_catalog.pg_shdepend d, r, here
                     WHERE d.refclassid = 'pg_catalog.pg_authid'::regclass AND d.refobjid = r.oid
                       AND NOT (d.dbid = here.oid AND (
                             (d.classid = 'pg_catalog.pg_class'::regclass
                              AND d.objid IN (SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relnamespace = 'portal'::regnamespace))
                          OR (d.classid = 'pg_catalog.pg_namespace'::regclass AND d.objid = 'portal'::regnamespace)))) AS kept`,
    [role],
  );
  const r = rows[0]!;
  return !r.exists ? 'absent' : r.kept ? 'kept' : 'dropped';
}

/**
 * For a role dropClientRole had to keep: it can no longer log in, and has no password left to log
 * in with should something give it LOGIN again. Returns false when it already could not log in.
 */
export async function disableClientRoleLogin(tx: PoolClient, slug: string): Promise<boolean> {
  clientRoleName(slug);
  // Through ct_portal_disable_client_role_login (migration 017), which only ever takes rights away.
  const { rows } = await tx.query<{ disabled: boolean }>('SELECT public.ct_portal_disable_client_role_login($1) AS disabled', [slug]);
  return rows[0]!.disabled;
}
