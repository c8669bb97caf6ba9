import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { clientRoleName, dropClientRole, ensureClientRole, setClientRolePassword } from '@ct/client-portal';
import { scramVerifierMatches, withTransaction, type SecretKeyring } from '@ct/lib';
import { createApiKey, createWebhookSecret } from '@ct/api';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

/**
 * The client's own PostgreSQL role (migration 015, @ct/client-portal's database functions): three
 * clients in one real database of the bench, each role connected as itself (the bench trusts
 * local connections, so the user name is enough), and every way of reaching another client's rows
 * we could think of, each refused with its SQLSTATE or answering with the caller's rows only.
 */

const tag = randomBytes(3).toString('hex');
const keyring: SecretKeyring = { currentId: 'k1', keys: { k1: 'portal-test-master-key-0123456789abcdef' } };
const VIEWS = ['activity_feed', 'automations', 'client', 'invoices'];
const SLUGS = { pizza: `pizza-${tag}`, plumber: `plumber-${tag}`, hvac: `hvac-${tag}` } as const;
type Who = keyof typeof SLUGS;
/** Words only one client's rows hold: none of them may reach another client's session. */
const MARK: Record<Who, string> = { pizza: `margherita-${tag}`, plumber: `leaky-pipe-${tag}`, hvac: `boiler-${tag}` };

function urlAs(url: string, user: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = '';
  return u.toString();
}

async function connectAs(url: string, user: string): Promise<Client> {
  const c = new Client({ connectionString: urlAs(url, user) });
  // A session ended from the server side must not crash the test run.
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** The SQLSTATE a statement fails with (undefined if it succeeds). */
async function sqlState(c: Client, sql: string, params: unknown[] = []): Promise<string | undefined> {
  try {
    await c.query(sql, params);
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

async function seedClient(db: TestDatabase, who: Who): Promise<string> {
  const q = db.pool;
  const slug = SLUGS[who];
  const id = (
    await q.query<{ id: string }>(
      `INSERT INTO clients (slug, name, plan, contact_email, contact_phone) VALUES ($1, $2, 'growth', $3, '+15550001111') RETURNING id`,
      [slug, `${who} ${MARK[who]}`, `owner@${slug}.example`],
    )
  ).rows[0]!.id;
  await createWebhookSecret(q, keyring, id);
  const n = { pizza: 5, plumber: 3, hvac: 2 }[who];
  for (let i = 0; i < n; i++) {
    await q.query(
      `INSERT INTO activity_events (client_id, kind, occurred_at, details, idempotency_key)
       VALUES ($1, $2, now() - make_interval(mins => $3), $4, $5)`,
      [
        id,
        i === 0 ? 'job.done' : 'lead.captured',
        10 * i + 1,
        JSON.stringify(i === 0 ? {} : { summary: `${MARK[who]} event ${i}` }),
        `${slug}-${i}`,
      ],
    );
  }
  await q.query(
    `INSERT INTO invoices (client_id, number, amount_cents, status, issued_at, due_at, paid_at) VALUES
       ($1, $2, 12345, 'open', now() - interval '40 days', now() - interval '10 days', NULL),
       ($1, $3, 5000, 'paid', now() - interval '70 days', now() - interval '40 days', now() - interval '45 days'),
       ($1, $4, 999, 'draft', NULL, NULL, NULL)`,
    [id, `INV-${slug}-1`, `INV-${slug}-2`, `DRAFT-${slug}`],
  );
  await q.query(
    `INSERT INTO automations (client_id, n8n_workflow_id, name, minutes_saved_per_run, hourly_value_cents) VALUES ($1, $2, $3, 7.5, 4500)`,
    [id, `wf-${slug}`, `Automation of ${MARK[who]}`],
  );
  return id;
}

describe('client portal roles on a database of three clients', () => {
  let db: TestDatabase;
  const ids = {} as Record<Who, string>;
  const roles = {} as Record<Who, string>;
  const sessions = {} as Record<Who, Client>;
  let pizza: Client;

  const seen: string[] = [];
  /** Runs a statement that may succeed: its rows must be the pizza shop’s only. */
  const ownRowsOnly = async (sql: string) => {
    const res = await pizza.query(sql);
    const text = JSON.stringify(res.rows ?? (res as unknown as { rows: unknown[] }[]).map((r) => r.rows));
    seen.push(text);
    expect({ sql, leaked: text.includes(MARK.plumber) || text.includes(MARK.hvac) }).toEqual({ sql, leaked: false });
    return res;
  };

  beforeAll(async () => {
    db = await createTestDatabase({ prefix: 'portal_db' });
    for (const who of Object.keys(SLUGS) as Who[]) ids[who] = await seedClient(db, who);
    await createApiKey(db.pool, { name: 'grafana', scopes: ['admin'], owner: 'ops' }, { actor: 'ops@agency.example', actorType: 'user' });
    for (const who of Object.keys(SLUGS) as Who[]) {
      roles[who] = await withTransaction(db.pool, (tx) => ensureClientRole(tx, SLUGS[who]));
      sessions[who] = await connectAs(db.url, roles[who]);
    }
    pizza = sessions.pizza;
    // Statistics exist for every column, so pg_stats would have something to leak.
    await db.pool.query('ANALYZE');
  });

  afterAll(async () => {
    for (const s of Object.values(sessions)) await s?.end().catch(() => undefined);
    if (db) {
      for (const slug of Object.values(SLUGS)) await withTransaction(db.pool, (tx) => dropClientRole(tx, slug)).catch(() => undefined);
      await db.drop();
    }
  });

  describe('the role', () => {
    it('is named from the slug, a plain login role: no inheritance, member of nothing, limited, read-only by default', async () => {
      expect(roles.pizza).toBe(`ct_portal_pizza_${tag}`);
      expect(clientRoleName('joes-plumbing')).toBe('ct_portal_joes_plumbing');
      const { rows } = await db.pool.query(
        `SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication, rolbypassrls, rolconnlimit,
                (SELECT count(*)::int FROM pg_auth_members WHERE member = r.oid) AS memberships
         FROM pg_roles r WHERE rolname = $1`,
        [roles.pizza],
      );
      expect(rows).toEqual([
        {
          rolcanlogin: true,
          rolsuper: false,
          rolcreatedb: false,
          rolcreaterole: false,
          rolinherit: false,
          rolreplication: false,
          rolbypassrls: false,
          rolconnlimit: 10,
          memberships: 0,
        },
      ]);
      expect((await pizza.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only).toBe('on');
      expect((await pizza.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('15s');
      expect((await pizza.query('SHOW idle_in_transaction_session_timeout')).rows[0].idle_in_transaction_session_timeout).toBe('1min');
    });

    it('is bound to its client in portal.client_roles', async () => {
      const { rows } = await db.pool.query(`SELECT role, client_id FROM portal.client_roles ORDER BY role`);
      expect(rows).toEqual(
        (['hvac', 'pizza', 'plumber'] as Who[])
          .map((who) => ({ role: roles[who], client_id: ids[who] }))
          .sort((a, b) => a.role.localeCompare(b.role)),
      );
    });

    it('ensureClientRole again changes nothing, and repairs a role someone widened', async () => {
      const snapshot = async () =>
        (
          await db.pool.query(
            `SELECT r.rolinherit, r.rolconnlimit, (SELECT array_agg(m.roleid::regrole::text) FROM pg_auth_members m WHERE m.member = r.oid) AS member_of,
                    (SELECT array_agg(c.relname::text || '=' || c.relacl::text ORDER BY c.relname) FROM pg_class c WHERE c.relnamespace = 'portal'::regnamespace) AS acls,
                    (SELECT array_agg(x ORDER BY x) FROM pg_db_role_setting, unnest(setconfig) x WHERE setrole = r.oid AND setdatabase = 0) AS settings
             FROM pg_roles r WHERE r.rolname = $1`,
            [roles.hvac],
          )
        ).rows[0];
      const before = await snapshot();
      expect(await withTransaction(db.pool, (tx) => ensureClientRole(tx, SLUGS.hvac))).toBe(roles.hvac);
      expect(await snapshot()).toEqual(before);

      await db.pool.query(`ALTER ROLE ${roles.hvac} INHERIT CONNECTION LIMIT -1`);
      await db.pool.query(`GRANT pg_read_all_data TO ${roles.hvac}`);
      await db.pool.query(`ALTER ROLE ${roles.hvac} RESET statement_timeout`);
      await withTransaction(db.pool, (tx) => ensureClientRole(tx, SLUGS.hvac));
      expect(await snapshot()).toEqual(before);
    });

    it('refuses an unknown or malformed slug by name', async () => {
      await expect(withTransaction(db.pool, (tx) => ensureClientRole(tx, `nobody-${tag}`))).rejects.toThrow(
        `no client with slug "nobody-${tag}" in this database`,
      );
      await expect(withTransaction(db.pool, (tx) => ensureClientRole(tx, 'Pizza Co'))).rejects.toThrow('not a client slug: "Pizza Co"');
      await expect(withTransaction(db.pool, (tx) => dropClientRole(tx, 'x; DROP ROLE postgres'))).rejects.toThrow('not a client slug');
      expect(() => clientRoleName('a')).toThrow('not a client slug');
    });

    it('setClientRolePassword stores a SCRAM verifier of the password, never the password', async () => {
      const password = `ctp_${randomBytes(32).toString('base64url')}`;
      await withTransaction(db.pool, (tx) => setClientRolePassword(tx, SLUGS.plumber, password));
      const stored = (await db.pool.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [roles.plumber])).rows[0]
        .rolpassword as string;
      expect(stored).toMatch(/^SCRAM-SHA-256\$4096:/);
      expect(stored).not.toContain(password);
      expect(scramVerifierMatches(stored, password)).toBe(true);
      // A rolled-back caller leaves the previous password in place.
      await expect(
        withTransaction(db.pool, async (tx) => {
          await setClientRolePassword(tx, SLUGS.plumber, `ctp_${randomBytes(32).toString('base64url')}`);
          throw new Error('the caller failed after');
        }),
      ).rejects.toThrow('the caller failed after');
      expect((await db.pool.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [roles.plumber])).rows[0].rolpassword).toBe(
        stored,
      );
      await expect(withTransaction(db.pool, (tx) => setClientRolePassword(tx, SLUGS.plumber, 'short'))).rejects.toThrow(
        'at least 16 printable ASCII characters',
      );
      await expect(
        withTransaction(db.pool, (tx) => setClientRolePassword(tx, SLUGS.plumber, 'a password with spaces in it')),
      ).rejects.toThrow('without spaces');
    });
  });

  describe('what each role sees', () => {
    it.each(['pizza', 'plumber', 'hvac'] as Who[])('%s sees exactly its own rows in every view', async (who) => {
      const s = sessions[who];
      const id = ids[who];
      const feed = await s.query('SELECT * FROM portal.activity_feed ORDER BY time DESC');
      expect(feed.fields.map((f) => f.name)).toEqual(['time', 'kind', 'what']);
      const expected = await db.pool.query(
        `SELECT occurred_at AS time, kind, coalesce(details->>'summary', kind) AS what FROM activity_events WHERE client_id = $1 ORDER BY occurred_at DESC`,
        [id],
      );
      expect(feed.rows).toEqual(expected.rows);
      expect(feed.rows.length).toBe({ pizza: 5, plumber: 3, hvac: 2 }[who]);
      expect(feed.rows[0].what).toBe('job.done'); // no summary: its kind

      const client = await s.query('SELECT * FROM portal.client');
      expect(client.fields.map((f) => f.name)).toEqual(['slug', 'name', 'status', 'plan', 'timezone', 'last_activity_at']);
      expect(client.rows).toEqual([
        {
          slug: SLUGS[who],
          name: `${who} ${MARK[who]}`,
          status: 'active',
          plan: 'growth',
          timezone: 'UTC',
          last_activity_at: expected.rows[0].time,
        },
      ]);

      const invoices = await s.query('SELECT number, amount, currency, status, overdue FROM portal.invoices ORDER BY number');
      expect(invoices.rows).toEqual([
        { number: `INV-${SLUGS[who]}-1`, amount: '123.45', currency: 'USD', status: 'open', overdue: true },
        { number: `INV-${SLUGS[who]}-2`, amount: '50.00', currency: 'USD', status: 'paid', overdue: false },
      ]); // the draft is not shown

      const automations = await s.query('SELECT * FROM portal.automations');
      expect(automations.rows).toEqual([
        expect.objectContaining({
          name: `Automation of ${MARK[who]}`,
          enabled: true,
          minutes_saved_per_run: '7.50',
          hourly_value: '45.00',
          currency: 'USD',
        }),
      ]);
    });

    it('a role mapped to no client (the platform’s own, connected as a non-owner) sees no row', async () => {
      await db.pool.query('BEGIN');
      try {
        await db.pool.query('SET LOCAL ROLE ct_portal_owner');
        for (const v of VIEWS) expect([v, (await db.pool.query(`SELECT count(*)::int AS n FROM portal.${v}`)).rows[0].n]).toEqual([v, 0]);
        // Row-level security on the tables themselves, for the views' owner:
        expect((await db.pool.query(`SELECT count(*)::int AS n FROM public.activity_events`)).rows[0].n).toBe(0);
      } finally {
        await db.pool.query('ROLLBACK');
      }
    });

    it('has SELECT on the four views and USAGE on portal, and no other right in this database', async () => {
      const { rows } = await db.pool.query(
        `SELECT n.nspname || '.' || c.relname AS rel, p.priv
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) AS p(priv)
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
           AND has_table_privilege($1, c.oid, p.priv)
         ORDER BY 1, 2`,
        [roles.pizza],
      );
      expect(rows).toEqual(VIEWS.map((v) => ({ rel: `portal.${v}`, priv: 'SELECT' })));
      const columns = await db.pool.query(
        `SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE c.relnamespace IN ('public'::regnamespace, 'portal'::regnamespace) AND c.relkind = 'r' AND a.attnum > 0
           AND has_column_privilege($1, c.oid, a.attnum, 'SELECT,INSERT,UPDATE,REFERENCES')`,
        [roles.pizza],
      );
      expect(columns.rows).toEqual([]);
      const routines = await db.pool.query(
        `SELECT p.oid::regprocedure::text AS f FROM pg_proc p
         WHERE p.pronamespace IN ('public'::regnamespace, 'portal'::regnamespace) AND has_function_privilege($1, p.oid, 'EXECUTE')`,
        [roles.pizza],
      );
      expect(routines.rows).toEqual([]);
      const schemas = await db.pool.query(
        `SELECT has_schema_privilege($1, 'portal', 'USAGE') AS portal_usage, has_schema_privilege($1, 'portal', 'CREATE') AS portal_create,
                has_schema_privilege($1, 'public', 'CREATE') AS public_create, has_database_privilege($1, current_database(), 'TEMPORARY') AS temp,
                has_database_privilege($1, current_database(), 'CREATE') AS db_create`,
        [roles.pizza],
      );
      expect(schemas.rows[0]).toEqual({ portal_usage: true, portal_create: false, public_create: false, temp: false, db_create: false });
    });
  });

  describe('adversarial SQL as the pizza shop’s role', () => {
    const refused = async (sql: string, state: string) => expect([sql, await sqlState(pizza, sql)]).toEqual([sql, state]);

    afterEach(async () => {
      await pizza.query('ROLLBACK').catch(() => undefined);
      await pizza.query('RESET ALL');
    });

    afterAll(() => {
      // Everything that answered, together: not one word of another client.
      expect(seen.length).toBeGreaterThan(15);
      for (const text of seen) for (const m of [MARK.plumber, MARK.hvac, SLUGS.plumber, SLUGS.hvac]) expect(text).not.toContain(m);
    });

    it('WHERE clauses that would be true for every row still answer its rows only', async () => {
      for (const where of [
        'true',
        '1 = 1 OR true',
        `what LIKE '%' OR kind IS NULL`,
        `current_user = 'postgres' OR current_user <> 'postgres'`,
        `time > '-infinity'`,
        `what = ANY (ARRAY['${MARK.plumber} event 1', '${MARK.hvac} event 1']) OR true`,
      ]) {
        const res = await ownRowsOnly(`SELECT * FROM portal.activity_feed WHERE ${where}`);
        expect(res.rows).toHaveLength(5);
      }
      expect((await ownRowsOnly(`SELECT * FROM portal.activity_feed WHERE what LIKE '%${MARK.plumber}%'`)).rows).toEqual([]);
      expect((await ownRowsOnly(`SELECT count(*)::int AS n FROM portal.invoices`)).rows[0].n).toBe(2);
      expect((await ownRowsOnly(`SELECT count(*)::int AS n FROM portal.client`)).rows[0].n).toBe(1);
    });

    it('a condition that raises an error for another client’s row never runs on one (security barrier and row-level security)', async () => {
      // If the plumber's rows reached this condition, the division by zero would say so.
      for (const v of ['activity_feed', 'automations', 'invoices', 'client']) {
        const col = { activity_feed: 'what', automations: 'name', invoices: 'number', client: 'name' }[v];
        await ownRowsOnly(`SELECT * FROM portal.${v} WHERE 1 / (CASE WHEN ${col}::text LIKE '%${MARK.plumber}%' THEN 0 ELSE 1 END) = 1`);
      }
    });

    it('UNION, subqueries, CTEs, LATERAL and joins on the base tables are refused', async () => {
      for (const sql of [
        `SELECT * FROM portal.activity_feed UNION ALL SELECT occurred_at, kind, details::text FROM public.activity_events`,
        `SELECT * FROM portal.activity_feed WHERE EXISTS (SELECT 1 FROM public.clients WHERE name LIKE '%${MARK.plumber}%')`,
        `SELECT (SELECT count(*) FROM public.invoices) AS n`,
        `WITH x AS (SELECT * FROM public.invoices) SELECT * FROM x`,
        `WITH RECURSIVE r AS (SELECT * FROM public.automations) SELECT * FROM r`,
        `SELECT * FROM portal.client, LATERAL (SELECT * FROM public.clients c2) x`,
        `SELECT f.* FROM portal.activity_feed f JOIN public.activity_events e ON e.kind = f.kind`,
        `SELECT * FROM portal.client_roles`,
        `SELECT * FROM public.client_secrets`,
        `SELECT * FROM public.api_keys`,
        `SELECT * FROM public.audit_logs`,
        `SELECT * FROM public.client_activity_counts`,
        `SELECT * FROM dashboard.activity_feed`,
        `TABLE public.clients`,
      ])
        await refused(sql, '42501');
      // UNION and CTEs over the portal views themselves are fine, and still its rows.
      const res = await ownRowsOnly(
        `WITH f AS (SELECT what FROM portal.activity_feed) SELECT what FROM f UNION SELECT name FROM portal.automations UNION SELECT name FROM portal.client`,
      );
      expect(res.rows.length).toBe(7);
    });

    it('reads no table of the platform, column by column, and no sequence', async () => {
      const { rows } = await db.pool.query<{ t: string }>(
        `SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('public', 'portal', 'dashboard') AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT (n.nspname = 'portal' AND c.relkind = 'v')
         ORDER BY 1`,
      );
      expect(rows.length).toBeGreaterThan(20);
      for (const { t } of rows) await refused(`SELECT 1 FROM ${t} LIMIT 1`, '42501');
      await refused(`SELECT nextval('public.activity_events_id_seq')`, '42501');
      await refused(`SELECT last_value FROM public.activity_events_id_seq`, '42501');
    });

    it('pg_catalog and information_schema: statistics, passwords, definitions and privileges show nothing of other clients', async () => {
      // The owner sees the statistics of the tables (values of every client's rows) ...
      const ownerStats = await db.pool.query(
        `SELECT count(*)::int AS n FROM pg_stats WHERE schemaname = 'public' AND tablename = 'activity_events'`,
      );
      expect(ownerStats.rows[0].n).toBeGreaterThan(0);
      // ... the client's role none of them: it holds no column of any table.
      await ownRowsOnly(`SELECT * FROM pg_stats WHERE schemaname IN ('public', 'portal')`).then((r) => expect(r.rows).toEqual([]));
      await ownRowsOnly(`SELECT * FROM pg_stats_ext`).then((r) => expect(r.rows).toEqual([]));
      await ownRowsOnly(`SELECT * FROM pg_stats_ext_exprs`).then((r) => expect(r.rows).toEqual([]));
      await refused(`SELECT * FROM pg_statistic`, '42501');
      await refused(`SELECT * FROM pg_statistic_ext_data`, '42501');
      await refused(`SELECT rolpassword FROM pg_authid`, '42501');
      await refused(`SELECT passwd FROM pg_shadow`, '42501');
      await refused(`SELECT * FROM pg_largeobject`, '42501');
      const masked = await pizza.query(`SELECT rolpassword FROM pg_roles WHERE rolname LIKE 'ct_portal_%' AND rolpassword IS NOT NULL`);
      expect(new Set(masked.rows.map((r) => r.rolpassword))).toEqual(new Set(['********']));

      const tables = await ownRowsOnly(
        `SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
      );
      expect(tables.rows.map((r) => r.t)).toEqual(VIEWS.map((v) => `portal.${v}`));
      const columns = await ownRowsOnly(
        `SELECT DISTINCT table_schema || '.' || table_name AS t FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
      );
      expect(columns.rows.map((r) => r.t)).toEqual(VIEWS.map((v) => `portal.${v}`));
      const privileges = await ownRowsOnly(
        `SELECT table_name, privilege_type FROM information_schema.table_privileges WHERE grantee = current_user ORDER BY 1`,
      );
      expect(privileges.rows).toEqual(VIEWS.map((v) => ({ table_name: v, privilege_type: 'SELECT' })));
      // A view's definition is public catalog text, and holds no data.
      await ownRowsOnly(`SELECT pg_get_viewdef('portal.activity_feed'::regclass) AS d`);
      await refused(`SELECT query_to_xml('SELECT * FROM public.activity_events', true, false, '')`, '42501');
      await refused(`SELECT * FROM query_to_xml_and_xmlschema('SELECT * FROM public.invoices', true, false, '')`, '42501');
      await refused(`SELECT table_to_xml('public.clients', true, false, '')`, '42501');
      await refused(`SELECT pg_read_file('/etc/passwd')`, '42501');
      await refused(`SELECT lo_import('/etc/passwd')`, '42501');
      await refused(`SELECT current_setting('data_directory')`, '42501');
    });

    it('calls no function of the platform, the portal ones included', async () => {
      const { rows: secret } = await db.pool.query<{ ciphertext: Buffer }>('SELECT ciphertext FROM client_secrets LIMIT 1');
      await refused(`SELECT public.ct_portal_client_role('${SLUGS.plumber}')`, '42501');
      await refused(`SELECT public.ct_portal_drop_client_role('${SLUGS.plumber}')`, '42501');
      await refused(`CALL public.ct_portal_grants()`, '42501');
      await refused(`CALL public.ct_dashboard_reader_grants()`, '42501');
      await refused(`SELECT public.ct_hash_api_key('x')`, '42501');
      expect(await sqlState(pizza, 'SELECT public.ct_decrypt_secret($1, $2)', [secret[0]!.ciphertext, keyring.keys.k1])).toBe('42501');
      await refused(`SELECT pg_advisory_lock(1)`, '42501');
      await refused(`SELECT lo_create(0)`, '42501');
      // An anonymous block runs with the same rights.
      await pizza.query('SET default_transaction_read_only = off');
      await refused(`DO $$ BEGIN PERFORM * FROM public.activity_events; END $$`, '42501');
      await refused(`DO $$ BEGIN PERFORM public.ct_portal_client_role('${SLUGS.plumber}'); END $$`, '42501');
    });

    it('cannot become another role: SET ROLE, SET SESSION AUTHORIZATION, set_config', async () => {
      for (const role of ['postgres', 'ct_portal_owner', roles.plumber, 'pg_read_all_data', 'ct_dashboard_reader']) {
        await refused(`SET ROLE ${role}`, '42501');
        await refused(`SET SESSION AUTHORIZATION ${role}`, '42501');
        await refused(`SELECT set_config('role', '${role}', false)`, '42501');
      }
      await pizza.query('SET default_transaction_read_only = off');
      await refused(`GRANT ${roles.plumber} TO ${roles.pizza}`, '42501');
      await refused(`GRANT pg_read_all_data TO ${roles.pizza}`, '42501');
      await refused(`ALTER ROLE ${roles.pizza} BYPASSRLS`, '42501');
      await refused(`ALTER ROLE ${roles.pizza} INHERIT`, '42501');
      await refused(`ALTER ROLE ${roles.plumber} PASSWORD 'stolen-password-123'`, '42501');
      // RESET ROLE goes back to itself.
      await pizza.query('RESET ROLE');
      expect((await pizza.query('SELECT current_user AS u')).rows[0].u).toBe(roles.pizza);
      expect((await ownRowsOnly('SELECT * FROM portal.activity_feed')).rows).toHaveLength(5);
    });

    it('cannot switch row-level security off: a query it would filter is refused instead', async () => {
      await pizza.query('SET row_security = off');
      for (const v of VIEWS) await refused(`SELECT * FROM portal.${v}`, '42501');
      await pizza.query(`SELECT set_config('row_security', 'off', false)`);
      await refused(`SELECT * FROM portal.activity_feed`, '42501');
      await pizza.query('RESET row_security');
      await ownRowsOnly('SELECT * FROM portal.activity_feed');
      await pizza.query('SET default_transaction_read_only = off');
      for (const sql of [
        'ALTER TABLE public.activity_events DISABLE ROW LEVEL SECURITY',
        'ALTER TABLE public.activity_events NO FORCE ROW LEVEL SECURITY',
        'DROP POLICY portal_own_client_rows ON public.activity_events',
        `CREATE POLICY wide ON public.activity_events FOR SELECT USING (true)`,
        `ALTER POLICY portal_own_client_rows ON public.invoices USING (true)`,
        `ALTER VIEW portal.activity_feed SET (security_invoker = true)`,
        `ALTER VIEW portal.activity_feed RESET (security_barrier)`,
        `CREATE OR REPLACE VIEW portal.activity_feed AS SELECT occurred_at AS time, kind, kind AS what FROM public.activity_events`,
        `ALTER VIEW portal.activity_feed OWNER TO ${roles.pizza}`,
      ])
        await refused(sql, '42501');
    });

    it('prepared statements, cursors and COPY answer its rows only', async () => {
      await pizza.query(`PREPARE feed AS SELECT * FROM portal.activity_feed WHERE what <> $1`);
      for (let i = 0; i < 7; i++) expect((await ownRowsOnly(`EXECUTE feed('x')`)).rows).toHaveLength(5); // generic plan after 5
      await pizza.query('DEALLOCATE feed');
      // PostgreSQL checks rights when a statement runs, not when it is prepared.
      await pizza.query(`PREPARE steal AS SELECT * FROM public.activity_events`);
      await refused('EXECUTE steal', '42501');
      await pizza.query('DEALLOCATE steal');
      await pizza.query('BEGIN');
      await pizza.query('DECLARE c CURSOR FOR SELECT * FROM portal.invoices');
      expect((await ownRowsOnly('FETCH ALL FROM c')).rows).toHaveLength(2);
      await pizza.query('COMMIT');
      // COPY of a query over a view is a read like any other; COPY of a view itself is not allowed.
      await refused('COPY portal.activity_feed TO STDOUT', '42809');
      await refused('COPY public.activity_events TO STDOUT', '42501');
      await refused('COPY (SELECT * FROM public.invoices) TO STDOUT', '42501');
      await refused(`COPY (SELECT * FROM portal.activity_feed) TO '/tmp/portal-stash'`, '42501');
      await refused(`COPY (SELECT 1) TO PROGRAM 'id'`, '42501');
      await refused(`COPY public.invoices FROM PROGRAM 'id'`, '42501');
    });

    it('writes of every kind are refused, with read-only on or switched off', async () => {
      // Through the views: the grant is SELECT only (four of them are automatically updatable).
      const throughViews = [
        `INSERT INTO portal.automations (name) VALUES ('evil')`,
        `UPDATE portal.invoices SET status = 'paid'`,
        `DELETE FROM portal.activity_feed`,
        `UPDATE portal.client SET name = 'Hacked'`,
      ];
      // Tables, the role map included (rebinding itself to another client): read-only stops them
      // first, then the missing grant.
      const toTables = [
        `INSERT INTO portal.client_roles (role, client_id) VALUES ('${roles.pizza}', '${ids.plumber}')`,
        `UPDATE portal.client_roles SET client_id = '${ids.plumber}'`,
        `DELETE FROM portal.client_roles`,
        `INSERT INTO public.activity_events (client_id, kind, occurred_at, idempotency_key) VALUES ('${ids.pizza}', 'x', now(), 'evil')`,
        `UPDATE public.invoices SET status = 'void'`,
        `DELETE FROM public.clients`,
        `MERGE INTO public.automations a USING (SELECT 1) s ON true WHEN MATCHED THEN UPDATE SET enabled = false`,
      ];
      for (const readOnly of ['on', 'off']) {
        await pizza.query(`SET default_transaction_read_only = ${readOnly}`);
        for (const sql of throughViews) expect([readOnly, sql, await sqlState(pizza, sql)]).toEqual([readOnly, sql, '42501']);
        for (const sql of toTables)
          expect([readOnly, sql, await sqlState(pizza, sql)]).toEqual([readOnly, sql, readOnly === 'on' ? '25006' : '42501']);
      }
      // PostgreSQL 15 cannot MERGE into a view at all.
      await refused(`MERGE INTO portal.automations a USING (SELECT 1) s ON true WHEN MATCHED THEN UPDATE SET enabled = false`, '0A000');
      await refused('TRUNCATE portal.invoices', '42809'); // not a table
      await refused('TRUNCATE public.invoices', '42501');
      // Locks that would block the platform's writes (LOCK works only inside a transaction).
      for (const sql of ['LOCK TABLE public.invoices IN ACCESS EXCLUSIVE MODE', 'LOCK TABLE portal.invoices IN EXCLUSIVE MODE']) {
        await pizza.query('BEGIN');
        expect([sql, await sqlState(pizza, sql)]).toEqual([sql, '42501']);
        await pizza.query('ROLLBACK');
      }
      const unchanged = await db.pool.query(
        `SELECT (SELECT count(*)::int FROM portal.client_roles) AS roles, (SELECT count(*)::int FROM automations WHERE name = 'evil') AS evil,
                (SELECT count(*)::int FROM invoices WHERE status = 'void') AS void, (SELECT count(*)::int FROM clients) AS clients`,
      );
      expect(unchanged.rows[0]).toEqual({ roles: 3, evil: 0, void: 0, clients: 3 });
    });

    it('creates nothing: temporary tables, views, functions, schemas, extensions', async () => {
      const creates = [
        'CREATE TEMP TABLE stash AS SELECT * FROM portal.activity_feed',
        'CREATE TABLE portal.stash (x text)',
        'CREATE TABLE public.stash (x text)',
        'CREATE VIEW portal.wide AS SELECT * FROM public.activity_events',
        `CREATE FUNCTION portal.f() RETURNS int LANGUAGE sql AS 'SELECT 1'`,
        `CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'`,
        'CREATE SCHEMA stash',
        'CREATE EXTENSION dblink',
        'CREATE EXTENSION postgres_fdw',
      ];
      for (const sql of creates) await refused(sql, '25006'); // read-only first
      await pizza.query('SET default_transaction_read_only = off');
      for (const sql of creates) await refused(sql, '42501');
    });

    it('cannot see or end other sessions: the owner’s statement text stays hidden', async () => {
      const owner = new Client({ connectionString: db.ownerUrl });
      await owner.connect();
      try {
        await owner.query('BEGIN');
        await owner.query(`SELECT 'marker-${MARK.plumber}'`);
        const pid = (await owner.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        const seen = await ownRowsOnly(`SELECT query FROM pg_stat_activity WHERE pid = ${pid}`);
        expect(seen.rows).toEqual([{ query: '<insufficient privilege>' }]);
        await refused(`SELECT pg_terminate_backend(${pid})`, '42501');
        await refused(`SELECT pg_cancel_backend(${pid})`, '42501');
        const other = (await sessions.plumber.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        await sessions.plumber.query(`SELECT 'plumber asks ${MARK.plumber}'`);
        expect((await ownRowsOnly(`SELECT query FROM pg_stat_activity WHERE pid = ${other}`)).rows).toEqual([
          { query: '<insufficient privilege>' },
        ]);
      } finally {
        await owner.query('ROLLBACK');
        await owner.end();
      }
    });
  });

  describe('each layer holds on its own', () => {
    it('row-level security alone: a view without a filter of its own, owned like the others, still shows the caller’s rows only', async () => {
      await db.pool.query(
        `CREATE VIEW portal.rls_probe WITH (security_barrier) AS SELECT client_id, kind, details FROM public.activity_events`,
      );
      try {
        await db.pool.query(`ALTER VIEW portal.rls_probe OWNER TO ct_portal_owner`);
        await db.pool.query(`GRANT SELECT ON portal.rls_probe TO ${roles.pizza}`);
        const res = await pizza.query(`SELECT DISTINCT client_id FROM portal.rls_probe`);
        expect(res.rows).toEqual([{ client_id: ids.pizza }]);
        expect((await pizza.query(`SELECT count(*)::int AS n FROM portal.rls_probe`)).rows[0].n).toBe(5);
      } finally {
        await db.pool.query(`DROP VIEW portal.rls_probe`);
      }
    });

    it('the views’ filter alone, when a restore without owners gave the views to the tables’ owner; the next ensureClientRole gives them back', async () => {
      // What `pg_restore --no-owner` leaves: the views owned by the restoring role, which row-level
      // security does not apply to.
      const tableOwner = (
        await db.pool.query(`SELECT pg_get_userbyid(relowner) AS o FROM pg_class WHERE oid = 'public.activity_events'::regclass`)
      ).rows[0].o;
      for (const v of VIEWS) await db.pool.query(`ALTER VIEW portal.${v} OWNER TO ${tableOwner}`);
      const res = await ownRowsOnly('SELECT * FROM portal.activity_feed');
      expect(res.rows).toHaveLength(5);
      await ownRowsOnly(`SELECT * FROM portal.activity_feed WHERE 1 / (CASE WHEN what LIKE '%${MARK.plumber}%' THEN 0 ELSE 1 END) = 1`);
      expect((await ownRowsOnly('SELECT * FROM portal.invoices')).rows).toHaveLength(2);

      await withTransaction(db.pool, (tx) => ensureClientRole(tx, SLUGS.pizza));
      const owners = await db.pool.query(
        `SELECT DISTINCT pg_get_userbyid(relowner) AS o FROM pg_class WHERE relnamespace = 'portal'::regnamespace AND relkind = 'v'`,
      );
      expect(owners.rows).toEqual([{ o: 'ct_portal_owner' }]);
      expect(await sqlState(pizza, 'SET row_security = off; SELECT * FROM portal.activity_feed')).toBe('42501');
      await pizza.query('RESET row_security');
    });

    it('grants nothing while row-level security is off on a table a view reads', async () => {
      await db.pool.query('ALTER TABLE public.invoices DISABLE ROW LEVEL SECURITY');
      try {
        await expect(withTransaction(db.pool, (tx) => ensureClientRole(tx, SLUGS.pizza))).rejects.toThrow(
          "row-level security is off on public.invoices: the client portal would show every client's rows",
        );
      } finally {
        await db.pool.query('ALTER TABLE public.invoices ENABLE ROW LEVEL SECURITY');
      }
    });
  });

  describe('offboarding', () => {
    it('dropClientRole ends the role: its sessions, its grants, its map row, the role; a second call finds nothing', async () => {
      const s = sessions.hvac;
      expect(await withTransaction(db.pool, (tx) => dropClientRole(tx, SLUGS.hvac))).toBe('dropped');
      await expect(s.query('SELECT * FROM portal.activity_feed')).rejects.toThrow();
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1`, [roles.hvac])).rows[0].n).toBe(0);
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM portal.client_roles WHERE role = $1`, [roles.hvac])).rows[0].n).toBe(0);
      await expect(connectAs(db.url, roles.hvac)).rejects.toThrow(/does not exist/);
      expect(await withTransaction(db.pool, (tx) => dropClientRole(tx, SLUGS.hvac))).toBe('absent');
      // The client's data is untouched.
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM activity_events WHERE client_id = $1`, [ids.hvac])).rows[0].n).toBe(2);
    });
  });
});

describe('one role name, many databases of one cluster at the same moment', () => {
  const slug = `race-${tag}`;
  const role = clientRoleName(slug);
  const dbs: TestDatabase[] = [];
  const clientIds: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) dbs.push(await createTestDatabase({ prefix: 'portal_race' }));
    for (const [i, d] of dbs.entries()) {
      const id = (await d.pool.query<{ id: string }>(`INSERT INTO clients (slug, name) VALUES ($1, $2) RETURNING id`, [slug, `Race ${i}`]))
        .rows[0]!.id;
      clientIds.push(id);
      await d.pool.query(
        `INSERT INTO activity_events (client_id, kind, occurred_at, details, idempotency_key) VALUES ($1, 'x.y', now(), $2, $3)`,
        [id, JSON.stringify({ summary: `database ${i}` }), `race-${i}`],
      );
    }
  });

  afterAll(async () => {
    for (const d of dbs) await d.drop();
  });

  it('ensureClientRole and setClientRolePassword race without an error, twice per database, and each database binds the role to its own client', async () => {
    const password = `ctp_${randomBytes(32).toString('base64url')}`;
    const runs = dbs.flatMap((d) => [
      withTransaction(d.pool, (tx) => ensureClientRole(tx, slug)),
      withTransaction(d.pool, async (tx) => {
        await setClientRolePassword(tx, slug, password);
        return role;
      }),
    ]);
    expect(await Promise.all(runs)).toEqual(runs.map(() => role));
    for (const [i, d] of dbs.entries()) {
      expect((await d.pool.query(`SELECT client_id FROM portal.client_roles WHERE role = $1`, [role])).rows).toEqual([
        { client_id: clientIds[i] },
      ]);
      const s = await connectAs(d.url, role);
      try {
        expect((await s.query('SELECT what FROM portal.activity_feed')).rows).toEqual([{ what: `database ${i}` }]);
      } finally {
        await s.end();
      }
    }
    const stored = (await dbs[0]!.pool.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role])).rows[0].rolpassword;
    expect(scramVerifierMatches(stored, password)).toBe(true);
  });

  it('dropClientRole keeps the role while another database still grants it, and drops it with the last', async () => {
    expect(await withTransaction(dbs[0]!.pool, (tx) => dropClientRole(tx, slug))).toBe('kept');
    const s = await connectAs(dbs[0]!.url, role);
    try {
      expect(await sqlState(s, 'SELECT * FROM portal.activity_feed')).toBe('42501');
    } finally {
      await s.end();
    }
    const still = await connectAs(dbs[1]!.url, role);
    try {
      expect((await still.query('SELECT what FROM portal.activity_feed')).rows).toEqual([{ what: 'database 1' }]);
    } finally {
      await still.end();
    }
    expect(await withTransaction(dbs[1]!.pool, (tx) => dropClientRole(tx, slug))).toBe('kept');
    expect(await withTransaction(dbs[2]!.pool, (tx) => dropClientRole(tx, slug))).toBe('dropped');
    expect((await dbs[0]!.pool.query(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1`, [role])).rows[0].n).toBe(0);
  });
});
