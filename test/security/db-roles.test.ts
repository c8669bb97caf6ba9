import { Client } from 'pg';
import { APP_ROLE, scramSha256Verifier, verifyAndRecordAuditChain, verifyAuditChain, writeAudit } from '@ct/lib';
import { ensureClientRole } from '@ct/client-portal';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

/**
 * The services connect as ct_app (migration 017). Whoever holds its password must not be able to
 * silence, rewrite or forge the audit log, nor give itself more rights: each attack below is what
 * the database owner could do, performed as ct_app, and refused.
 */
let db: TestDatabase;
let app: Client;

/** The SQLSTATE a statement fails with (undefined if it succeeds). */
async function sqlState(c: Client, sql: string, params: unknown[] = []): Promise<string | undefined> {
  await c.query('SAVEPOINT attack');
  try {
    await c.query(sql, params);
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  } finally {
    await c.query('ROLLBACK TO SAVEPOINT attack');
  }
}

const HASH_ARGS = `'0', 1, now(), 'a', 'system', 'x.y', NULL, NULL, NULL, 'success', '{}'::jsonb, NULL, NULL`;

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'dbroles' });
  app = new Client({ connectionString: db.url });
  await app.connect();
  expect((await app.query('SELECT current_user AS u')).rows[0].u).toBe(APP_ROLE);
  // Rows to attack, written the way the services write them.
  for (let i = 0; i < 3; i++) await writeAudit(app, { actor: 'ops', action: 'client.create', outcome: 'success', details: { i } });
  await db.pool.query(`INSERT INTO clients (slug, name) VALUES ('pizza-co', 'Pizza Co')`);
  await app.query('BEGIN');
}, 60_000);

// Each attack runs in a transaction of its own, rolled back after it (locks included).
afterEach(async () => {
  await app.query('ROLLBACK');
  await app.query('BEGIN');
});

afterAll(async () => {
  await app?.query('ROLLBACK').catch(() => undefined);
  await app?.end();
  await db?.drop();
});

describe('ct_app', () => {
  it('is a login role without superuser, role creation, replication or memberships, and owns nothing', async () => {
    const { rows } = await db.pool.query(
      `SELECT rolcanlogin, rolsuper, rolcreaterole, rolreplication, rolinherit,
              (SELECT count(*)::int FROM pg_auth_members m WHERE m.member = r.oid) AS memberships,
              (SELECT count(*)::int FROM pg_class c WHERE c.relowner = r.oid) AS owned
         FROM pg_roles r WHERE rolname = $1`,
      [APP_ROLE],
    );
    expect(rows[0]).toEqual({
      rolcanlogin: true,
      rolsuper: false,
      rolcreaterole: false,
      rolreplication: false,
      rolinherit: true,
      memberships: 0,
      owned: 0,
    });
  });

  it('cannot turn the audit triggers off', async () => {
    expect(await sqlState(app, `SET session_replication_role = replica`)).toBe('42501');
    expect(await sqlState(app, `SET LOCAL session_replication_role = replica`)).toBe('42501');
    expect(await sqlState(app, `ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_chain`)).toBe('42501');
    expect(await sqlState(app, `ALTER TABLE audit_logs DISABLE TRIGGER ALL`)).toBe('42501');
    expect(await sqlState(app, `DROP TRIGGER audit_logs_append_only ON audit_logs`)).toBe('42501');
    expect(
      await sqlState(
        app,
        `CREATE OR REPLACE FUNCTION audit_logs_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$`,
      ),
    ).toBe('42501');
  });

  it('cannot change, remove or truncate audit rows, nor move the chain head', async () => {
    expect(await sqlState(app, `UPDATE audit_logs SET actor = 'someone else' WHERE id = 1`)).toBe('42501');
    expect(await sqlState(app, `DELETE FROM audit_logs WHERE id = 3`)).toBe('42501');
    expect(await sqlState(app, `TRUNCATE audit_logs`)).toBe('42501');
    expect(await sqlState(app, `UPDATE audit_chain_head SET last_id = 2`)).toBe('42501');
    expect(
      await sqlState(app, `INSERT INTO audit_chain_head (singleton, last_id, last_hash) VALUES (true, 1, 'x') ON CONFLICT DO NOTHING`),
    ).toBe('42501');
    expect(await sqlState(app, `DELETE FROM audit_chain_head`)).toBe('42501');
    // An insert that names its own id and hashes gets the trigger's (which runs as the owner).
    const { rows } = await app.query(
      `INSERT INTO audit_logs (id, actor, action, outcome, prev_hash, hash) VALUES (999, 'x', 'x.forged', 'success', 'p', 'h') RETURNING id::int, hash`,
    );
    expect(rows[0].id).toBe(4);
    expect(rows[0].hash).toMatch(/^[0-9a-f]{64}$/);
    expect((await verifyAuditChain(app)).ok).toBe(true);
  });

  it('cannot recompute a hash, nor call the chain internals', async () => {
    expect(await sqlState(app, `SELECT audit_row_hash(${HASH_ARGS})`)).toBe('42501');
    expect(await sqlState(app, `SELECT audit_genesis_hash()`)).toBe('42501');
    expect(await sqlState(app, `SELECT audit_logs_chain()`)).toBe('42501');
    expect(await sqlState(app, `CALL ct_app_grants()`)).toBe('42501');
  });

  it('cannot record a verification that did not happen', async () => {
    expect(await sqlState(app, `INSERT INTO audit_verifications (ok, rows_checked) VALUES (true, 10)`)).toBe('42501');
    expect(await sqlState(app, `UPDATE audit_verifications SET ok = true`)).toBe('42501');
    expect(await sqlState(app, `DELETE FROM audit_verifications`)).toBe('42501');
    // The verification path records what it found itself: a broken chain stays broken.
    await db.pool.query(`ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only`);
    await db.pool.query(`UPDATE audit_logs SET actor = 'rewritten' WHERE id = 2`);
    await db.pool.query(`ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only`);
    try {
      const v = await verifyAndRecordAuditChain(db.appPool);
      expect(v).toMatchObject({ ok: false, firstBadId: '2' });
      const { rows } = await db.pool.query('SELECT ok, first_bad_id::int FROM audit_verifications ORDER BY id DESC LIMIT 1');
      expect(rows[0]).toEqual({ ok: false, first_bad_id: 2 });
    } finally {
      await db.pool.query(`ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only`);
      await db.pool.query(`UPDATE audit_logs SET actor = 'ops' WHERE id = 2`);
      await db.pool.query(`ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only`);
    }
    expect((await verifyAndRecordAuditChain(db.appPool)).ok).toBe(true);
  });

  it('cannot create, alter or drop roles, nor give itself rights', async () => {
    expect(await sqlState(app, `CREATE ROLE ct_rogue LOGIN SUPERUSER`)).toBe('42501');
    expect(await sqlState(app, `CREATE ROLE ct_portal_rogue LOGIN`)).toBe('42501');
    expect(await sqlState(app, `ALTER ROLE ct_app SUPERUSER`)).toBe('42501');
    expect(await sqlState(app, `ALTER ROLE ct_app CREATEROLE`)).toBe('42501');
    expect(await sqlState(app, `ALTER ROLE ct_dashboard_reader PASSWORD 'x'`)).toBe('42501');
    expect(await sqlState(app, `GRANT ct_portal_owner TO ct_app`)).toBe('42501');
    // A grant by a role that holds no grant option is a no-op with a warning.
    await app.query(`GRANT UPDATE, DELETE, TRUNCATE ON audit_logs TO ct_app`);
    expect(
      (await app.query(`SELECT has_table_privilege('audit_logs', 'UPDATE') OR has_table_privilege('audit_logs', 'DELETE') AS w`)).rows[0].w,
    ).toBe(false);
    expect(await sqlState(app, `DROP ROLE ct_dashboard_reader`)).toBe('42501');
    expect(await sqlState(app, `CREATE TABLE public.rogue (x int)`)).toBe('42501');
    expect(await sqlState(app, `CREATE TEMP TABLE rogue (x int)`)).toBe('42501');
    expect(await sqlState(app, `CREATE SCHEMA rogue`)).toBe('42501');
  });

  it('makes client portal roles only through the functions, and only for clients of this database', async () => {
    // Allowed: the role of a client of this database.
    expect(await ensureClientRole(app as never, 'pizza-co')).toBe('ct_portal_pizza_co');
    const verifier = scramSha256Verifier('portal-password-0123456789');
    expect(await sqlState(app, `SELECT ct_portal_set_client_role_password('pizza-co', $1)`, [verifier])).toBeUndefined();
    // Refused: no such client, the view owner's name, a plaintext password, an injection.
    expect(await sqlState(app, `SELECT ct_portal_client_role('no-such-client')`)).toBe('P0002');
    expect(await sqlState(app, `SELECT ct_portal_client_role('owner')`)).toBe('22023');
    expect(await sqlState(app, `SELECT ct_portal_drop_client_role('owner')`)).toBe('22023');
    expect(await sqlState(app, `SELECT ct_portal_disable_client_role_login('owner')`)).toBe('22023');
    expect(await sqlState(app, `SELECT ct_portal_client_role('x"; CREATE ROLE rogue; --')`)).toBe('22023');
    expect(await sqlState(app, `SELECT ct_portal_set_client_role_password('pizza-co', 'plaintext')`)).toBe('22023');
    expect(await sqlState(app, `SELECT ct_portal_set_client_role_password('no-such-client', $1)`, [verifier])).toBe('P0002');
    // Whether a client role has a password: yes or no for a client of this database, never the
    // verifier; nothing about the view owner's role or a role bound to no client here.
    const answer = async (slug: string) =>
      (await app.query(`SELECT ct_portal_client_role_has_password($1) AS a`, [slug])).rows.map((r: { a: unknown }) => r.a);
    expect(await answer('pizza-co')).toEqual([false]);
    await app.query(`SELECT ct_portal_set_client_role_password('pizza-co', $1)`, [verifier]);
    expect(await answer('pizza-co')).toEqual([true]);
    expect(await answer('no-such-client')).toEqual([null]);
    expect(await sqlState(app, `SELECT ct_portal_client_role_has_password('owner')`)).toBe('22023');
    expect(await sqlState(app, `SELECT ct_portal_client_role_has_password('x"; SELECT 1; --')`)).toBe('22023');
    expect(await sqlState(app, `SELECT rolpassword FROM pg_authid WHERE rolname = 'ct_portal_pizza_co'`)).toBe('42501');
    // A client named "owner" cannot be mapped to the view owner's role either.
    await db.pool.query(`INSERT INTO clients (slug, name) VALUES ('owner', 'Owner Ltd')`);
    try {
      expect(await sqlState(app, `SELECT ct_portal_client_role_unchecked('owner')`)).toBe('42501');
    } finally {
      await db.pool.query(`DELETE FROM clients WHERE slug = 'owner'`);
    }
    // The unchecked internals and the role map stay the owner's.
    expect(await sqlState(app, `SELECT ct_portal_drop_client_role_unchecked('pizza-co')`)).toBe('42501');
    expect(await sqlState(app, `CALL ct_portal_grants()`)).toBe('42501');
    expect(await sqlState(app, `INSERT INTO portal.client_roles (role, client_id) SELECT 'ct_portal_rogue', id FROM clients LIMIT 1`)).toBe(
      '42501',
    );
    expect(await sqlState(app, `ALTER ROLE ct_portal_pizza_co SUPERUSER`)).toBe('42501');
    const { rows } = await app.query(`SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'ct_portal_pizza_co'`);
    expect(rows[0]).toEqual({ rolsuper: false, rolcreaterole: false });
  });

  it('cannot truncate, alter or drop any table', async () => {
    const { rows } = await db.pool.query<{ t: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname IN ('public', 'portal') ORDER BY 1`,
    );
    expect(rows.length).toBeGreaterThan(20);
    for (const { t } of rows) {
      expect([t, await sqlState(app, `TRUNCATE ${t}`)]).toEqual([t, '42501']);
      expect([t, await sqlState(app, `ALTER TABLE ${t} DISABLE ROW LEVEL SECURITY`)]).toEqual([t, '42501']);
      expect([t, await sqlState(app, `DROP TABLE ${t}`)]).toEqual([t, '42501']);
    }
  });
});

describe('app_role_grants', () => {
  it('names every table, view and sequence of public and portal: a new one needs a decision', async () => {
    const { rows } = await db.pool.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'portal') AND c.relkind IN ('r', 'p', 'S')
          AND NOT EXISTS (SELECT FROM app_role_grants g WHERE g.object_type = 'relation' AND to_regclass(g.object_name) = c.oid)
        ORDER BY 1`,
    );
    expect(rows.map((r) => r.name)).toEqual([]);
    const missing = await db.pool.query(
      `SELECT object_name FROM app_role_grants WHERE object_type = 'relation' AND to_regclass(object_name) IS NULL
       UNION ALL SELECT object_name FROM app_role_grants WHERE object_type = 'function' AND to_regprocedure(object_name) IS NULL`,
    );
    expect(missing.rows).toEqual([]);
  });

  it('gives a table the owner creates later nothing until a row says so, and takes back what it does not list', async () => {
    const other = await createTestDatabase({ prefix: 'dbroleslater' });
    try {
      await other.pool.query(`CREATE TABLE later_feature (id int)`);
      await other.pool.query(`GRANT DELETE ON audit_logs TO ct_app`);
      const c = new Client({ connectionString: other.url });
      await c.connect();
      await c.query('BEGIN');
      expect(await sqlState(c, 'SELECT * FROM later_feature')).toBe('42501');
      await c.query('ROLLBACK');
      // ct migrate's pass puts the rights back to the list.
      await other.pool.query('CALL ct_app_grants()');
      const { rows } = await other.pool.query(`SELECT has_table_privilege('ct_app', 'audit_logs', 'DELETE') AS d`);
      expect(rows[0].d).toBe(false);
      await other.pool.query(`INSERT INTO app_role_grants VALUES ('relation', 'public.later_feature', '{SELECT}', 'test')`);
      await other.pool.query('CALL ct_app_grants()');
      expect((await c.query('SELECT count(*)::int AS n FROM later_feature')).rows[0].n).toBe(0);
      await c.end();
    } finally {
      await other.drop();
    }
  });
});
