import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import {
  DASHBOARD_READER_ROLE,
  MIGRATIONS_DIR,
  createPool,
  migrate,
  scramSha256Verifier,
  scramVerifierMatches,
  verifyAndRecordAuditChain,
  writeAudit,
  type SecretKeyring,
} from '@ct/lib';
import { createAdminUser, createApiKey, createWebhookSecret, hashPassword, issueRefreshToken } from '@ct/api';
import { benchEnv, createTestDatabase, type TestDatabase } from '../helpers/db';
import { runCt } from '../helpers/cli';

/**
 * ct_dashboard_reader, the role Grafana's admin dashboards read the platform database with
 * (migration 014): what it reads through the `dashboard` views, and everything it must not do,
 * proven by connecting as the role to a real, seeded database of the bench.
 */

const keyring: SecretKeyring = { currentId: 'k1', keys: { k1: 'reader-test-master-key-0123456789abcdef' } };
const SECRET_TABLES = ['client_secrets', 'api_keys', 'admin_users', 'refresh_tokens', 'audit_logs', 'audit_chain_head'];
const VIEWS = ['clients', 'activity_feed', 'audit_log', 'invoices', 'automations', 'backup_runs', 'audit_verifications'];

function urlAs(url: string, user: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = '';
  return u.toString();
}

async function connectAs(url: string, user: string): Promise<Client> {
  const c = new Client({ connectionString: urlAs(url, user) });
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

describe('ct_dashboard_reader on a seeded database', () => {
  let db: TestDatabase;
  let reader: Client;
  const ids: Record<string, string> = {};
  const longSummary = `Order ${'x'.repeat(300)}`;
  const longError = `pg_dump failed: ${'e'.repeat(400)}`;

  beforeAll(async () => {
    db = await createTestDatabase({ prefix: 'reader' });
    const q = db.pool;
    const client = async (slug: string, name: string, lastActivity: string | null) =>
      (
        await q.query<{ id: string }>(
          `INSERT INTO clients (slug, name, plan, contact_email, contact_phone, last_activity_at)
           VALUES ($1, $2, 'growth', $3, '+15550001111', $4) RETURNING id`,
          [slug, name, `owner@${slug}.example`, lastActivity],
        )
      ).rows[0]!.id;
    ids.pizza = await client('pizza-co', 'Pizza Co', new Date(Date.now() - 10 * 86400_000).toISOString());
    ids.plumber = await client('plumber', 'Joe the Plumber', new Date(Date.now() - 60_000).toISOString());
    ids.quiet = await client('quiet-hvac', 'Quiet HVAC', null);

    // What the role must never see, written through the platform's own code paths.
    await createWebhookSecret(q, keyring, ids.pizza);
    await createApiKey(q, { name: 'grafana', scopes: ['admin'], owner: 'ops' }, { actor: 'ops@agency.example', actorType: 'user' });
    const admin = await createAdminUser(
      q,
      { email: 'ops@agency.example', passwordHash: await hashPassword('a long admin password 1') },
      { actor: 'cli', actorType: 'system' },
    );
    await issueRefreshToken(q, { jwtSecret: 'x'.repeat(32), accessTtlSeconds: 900, refreshTtlSeconds: 86400 }, admin.id);

    const event = (clientId: string, kind: string, ago: number, details: object) =>
      q.query(
        `INSERT INTO activity_events (client_id, kind, occurred_at, details, idempotency_key) VALUES ($1, $2, now() - make_interval(secs => $3), $4, $5)`,
        [clientId, kind, ago, JSON.stringify(details), randomBytes(8).toString('hex')],
      );
    await event(ids.pizza, 'lead.captured', 3600, { summary: '  New lead: Maria, 2 large pizzas  ' });
    await event(ids.pizza, 'invoice.sent', 7200, { summary: '   ', amount: 12 });
    await event(ids.pizza, 'order.placed', 5400, { summary: longSummary });
    await event(ids.plumber, 'job.booked', 3 * 86400, {});

    await writeAudit(q, {
      actor: 'ops@agency.example',
      actorType: 'user',
      action: 'client.update',
      targetType: 'client',
      targetId: ids.pizza,
      clientId: ids.pizza,
      outcome: 'success',
      details: { before: { plan: 'starter' }, after: { plan: 'growth' } },
      sourceIp: '203.0.113.7',
      requestId: 'req-123',
    });
    await writeAudit(q, {
      actor: 'grafana:ops',
      actorType: 'grafana',
      action: 'backup.force',
      targetType: 'backup_run',
      targetId: 'run-9',
      outcome: 'denied',
    });

    await q.query(
      `INSERT INTO invoices (client_id, number, amount_cents, currency, status, issued_at, due_at, paid_at) VALUES
         ($1, 'INV-1', 12345, 'USD', 'open', now() - interval '40 days', now() - interval '10 days', NULL),
         ($1, 'INV-2', 5000, 'USD', 'open', now() - interval '1 day', now() + interval '29 days', NULL),
         ($2, 'INV-3', 99, 'EUR', 'paid', now() - interval '40 days', now() - interval '10 days', now() - interval '12 days')`,
      [ids.pizza, ids.plumber],
    );
    await q.query(
      `INSERT INTO automations (client_id, n8n_workflow_id, name, minutes_saved_per_run, hourly_value_cents, currency)
       VALUES ($1, 'wf-reader-1', 'Lead intake', 7.5, 4500, 'USD')`,
      [ids.pizza],
    );
    await q.query(
      `INSERT INTO backup_runs (kind, status, started_at, finished_at, bytes, object_key, error, details) VALUES
         ('database', 'succeeded', now() - interval '2 hours', now() - interval '2 hours' + interval '90 seconds', 1048576, 'db/1.ctb', NULL, '{"key_id":"k1"}'),
         ('n8n', 'failed', now() - interval '1 hour', now() - interval '1 hour' + interval '5 seconds', NULL, NULL, $1, '{}')`,
      [longError],
    );
    await verifyAndRecordAuditChain(q);

    reader = await connectAs(db.url, DASHBOARD_READER_ROLE);
  });

  afterAll(async () => {
    await reader?.end();
    await db?.drop();
  });

  describe('what it reads', () => {
    it('is a plain login role: no superuser, no inheritance, member of nothing, read-only and time-limited by default', async () => {
      const { rows } = await db.pool.query(
        `SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication, rolbypassrls,
                (SELECT count(*)::int FROM pg_auth_members WHERE member = r.oid) AS memberships
         FROM pg_roles r WHERE rolname = $1`,
        [DASHBOARD_READER_ROLE],
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
          memberships: 0,
        },
      ]);
      expect((await reader.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only).toBe('on');
      expect((await reader.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('15s');
      expect((await reader.query('SHOW idle_in_transaction_session_timeout')).rows[0].idle_in_transaction_session_timeout).toBe('1min');
      expect((await reader.query('SELECT current_user AS u')).rows[0].u).toBe(DASHBOARD_READER_ROLE);
    });

    it('dashboard.clients: the later of the recorded activity and the newest event, no contact details', async () => {
      const res = await reader.query('SELECT * FROM dashboard.clients ORDER BY slug');
      expect(res.fields.map((f) => f.name)).toEqual(['slug', 'name', 'status', 'plan', 'created_at', 'last_activity_at']);
      const bySlug = Object.fromEntries(res.rows.map((r) => [r.slug, r]));
      const newestPizzaEvent = (await db.pool.query(`SELECT max(occurred_at) AS t FROM activity_events WHERE client_id = $1`, [ids.pizza]))
        .rows[0].t;
      const plumberRecorded = (await db.pool.query(`SELECT last_activity_at AS t FROM clients WHERE id = $1`, [ids.plumber])).rows[0].t;
      expect(bySlug['pizza-co']).toMatchObject({ name: 'Pizza Co', status: 'active', plan: 'growth', last_activity_at: newestPizzaEvent });
      expect(bySlug['plumber'].last_activity_at).toEqual(plumberRecorded); // newer than its 3-day-old event
      expect(bySlug['quiet-hvac'].last_activity_at).toBeNull();
      expect(JSON.stringify(res.rows)).not.toMatch(/@pizza-co\.example|\+15550001111/);
    });

    it("dashboard.activity_feed: an event's summary (else its kind), an audit row's action and target, newest first", async () => {
      const res = await reader.query('SELECT * FROM dashboard.activity_feed ORDER BY time DESC LIMIT 50');
      expect(res.fields.map((f) => f.name)).toEqual(['time', 'client_slug', 'client', 'source', 'what', 'actor', 'outcome']);
      const rows = res.rows.map((r) => ({ ...r, time: undefined }));
      // The two audit rows were written last, so they come first (the later one on top).
      expect(rows.slice(0, 2)).toEqual([
        {
          time: undefined,
          client_slug: null,
          client: null,
          source: 'audit',
          what: 'backup.force backup_run run-9',
          actor: 'grafana:ops',
          outcome: 'denied',
        },
        {
          time: undefined,
          client_slug: 'pizza-co',
          client: 'Pizza Co',
          source: 'audit',
          what: 'client.update client pizza-co',
          actor: 'ops@agency.example',
          outcome: 'success',
        },
      ]);
      const events = rows.filter((r) => r.source === 'event');
      expect(events).toEqual([
        {
          time: undefined,
          client_slug: 'pizza-co',
          client: 'Pizza Co',
          source: 'event',
          what: 'New lead: Maria, 2 large pizzas',
          actor: null,
          outcome: null,
        },
        {
          time: undefined,
          client_slug: 'pizza-co',
          client: 'Pizza Co',
          source: 'event',
          what: longSummary.slice(0, 200),
          actor: null,
          outcome: null,
        },
        { time: undefined, client_slug: 'pizza-co', client: 'Pizza Co', source: 'event', what: 'invoice.sent', actor: null, outcome: null },
        {
          time: undefined,
          client_slug: 'plumber',
          client: 'Joe the Plumber',
          source: 'event',
          what: 'job.booked',
          actor: null,
          outcome: null,
        },
      ]);
      const times = res.rows.map((r) => (r.time as Date).getTime());
      expect([...times].sort((a, b) => b - a)).toEqual(times);
    });

    it('dashboard.audit_log: who did what to which client, without details or hashes', async () => {
      const res = await reader.query(`SELECT * FROM dashboard.audit_log WHERE action = 'client.update'`);
      expect(res.fields.map((f) => f.name)).toEqual([
        'id',
        'at',
        'actor',
        'actor_type',
        'action',
        'target_type',
        'target_id',
        'client_slug',
        'client',
        'outcome',
        'source_ip',
        'request_id',
      ]);
      expect(res.rows).toEqual([
        expect.objectContaining({
          actor: 'ops@agency.example',
          actor_type: 'user',
          target_type: 'client',
          target_id: ids.pizza,
          client_slug: 'pizza-co',
          client: 'Pizza Co',
          outcome: 'success',
          source_ip: '203.0.113.7',
          request_id: 'req-123',
        }),
      ]);
      const all = await reader.query('SELECT * FROM dashboard.audit_log');
      // api_key.create, admin_user.create, client.update, backup.force
      expect(all.rows.map((r) => r.action).sort()).toEqual(['admin_user.create', 'api_key.create', 'backup.force', 'client.update']);
      expect(JSON.stringify(all.rows)).not.toContain('starter'); // the details of client.update
    });

    it('dashboard.invoices: amounts in currency units, overdue = open and past due', async () => {
      const res = await reader.query('SELECT * FROM dashboard.invoices ORDER BY number');
      expect(res.fields.map((f) => f.name)).toEqual([
        'client_slug',
        'client',
        'number',
        'amount',
        'currency',
        'status',
        'issued_at',
        'due_at',
        'paid_at',
        'overdue',
      ]);
      expect(res.rows.map((r) => [r.client_slug, r.client, r.number, r.amount, r.currency, r.status, r.overdue])).toEqual([
        ['pizza-co', 'Pizza Co', 'INV-1', '123.45', 'USD', 'open', true],
        ['pizza-co', 'Pizza Co', 'INV-2', '50.00', 'USD', 'open', false],
        ['plumber', 'Joe the Plumber', 'INV-3', '0.99', 'EUR', 'paid', false], // past due, but paid
      ]);
    });

    it('dashboard.automations: value per hour in currency units', async () => {
      const res = await reader.query('SELECT * FROM dashboard.automations');
      expect(res.fields.map((f) => f.name)).toEqual([
        'client_slug',
        'client',
        'name',
        'n8n_workflow_id',
        'enabled',
        'minutes_saved_per_run',
        'hourly_value',
        'currency',
        'created_at',
      ]);
      expect(res.rows).toEqual([
        expect.objectContaining({
          client_slug: 'pizza-co',
          client: 'Pizza Co',
          name: 'Lead intake',
          n8n_workflow_id: 'wf-reader-1',
          enabled: true,
          minutes_saved_per_run: '7.50',
          hourly_value: '45.00',
          currency: 'USD',
        }),
      ]);
    });

    it('dashboard.backup_runs: duration in seconds, the error cut to 300 characters, no details', async () => {
      const res = await reader.query('SELECT * FROM dashboard.backup_runs ORDER BY started_at');
      expect(res.fields.map((f) => f.name)).toEqual([
        'kind',
        'status',
        'started_at',
        'finished_at',
        'duration_seconds',
        'bytes',
        'object_key',
        'error',
      ]);
      expect(res.rows.map((r) => [r.kind, r.status, r.duration_seconds, r.bytes, r.object_key, r.error])).toEqual([
        ['database', 'succeeded', 90, '1048576', 'db/1.ctb', null],
        ['n8n', 'failed', 5, null, null, longError.slice(0, 300)],
      ]);
    });

    it('dashboard.audit_verifications: the recorded chain checks', async () => {
      const res = await reader.query('SELECT * FROM dashboard.audit_verifications');
      expect(res.fields.map((f) => f.name)).toEqual(['at', 'ok', 'rows_checked', 'first_bad_id', 'reason', 'duration_seconds']);
      expect(res.rows).toEqual([expect.objectContaining({ ok: true, rows_checked: '4', first_bad_id: null, reason: null })]);
    });

    it('has SELECT and nothing else on every view, and USAGE but not CREATE on the schema', async () => {
      const { rows } = await db.pool.query(
        `SELECT c.relname, p.priv, has_table_privilege($1, c.oid, p.priv) AS has
         FROM pg_class c CROSS JOIN unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) AS p(priv)
         WHERE c.relnamespace = 'dashboard'::regnamespace ORDER BY 1, 2`,
        [DASHBOARD_READER_ROLE],
      );
      expect([...new Set(rows.map((r) => r.relname))].sort()).toEqual([...VIEWS].sort());
      expect(rows.filter((r) => r.has).map((r) => `${r.relname}:${r.priv}`)).toEqual(VIEWS.map((v) => `${v}:SELECT`).sort());
      const schema = await db.pool.query(
        `SELECT has_schema_privilege($1, 'dashboard', 'USAGE') AS usage, has_schema_privilege($1, 'dashboard', 'CREATE') AS create,
                has_schema_privilege($1, 'public', 'CREATE') AS public_create`,
        [DASHBOARD_READER_ROLE],
      );
      expect(schema.rows[0]).toEqual({ usage: true, create: false, public_create: false });
    });
  });

  describe('what it must not do', () => {
    afterEach(async () => {
      await reader.query('ROLLBACK').catch(() => undefined);
      await reader.query('RESET default_transaction_read_only');
    });

    it.each(SECRET_TABLES)('cannot read %s', async (table) => {
      expect(await sqlState(reader, `SELECT * FROM public.${table}`)).toBe('42501');
    });

    it('cannot read any table of the platform in any schema, nor COPY one out', async () => {
      const { rows } = await db.pool.query<{ t: string }>(
        `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
      );
      expect(rows.length).toBeGreaterThan(15);
      for (const { t } of rows) {
        expect([t, await sqlState(reader, `SELECT 1 FROM ${t} LIMIT 1`)]).toEqual([t, '42501']);
      }
      const grants = await db.pool.query(
        `SELECT c.oid::regclass::text AS relation FROM pg_class c
         WHERE c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'dashboard'::regnamespace)
           AND c.relnamespace::regnamespace::text NOT LIKE 'pg\\_%'
           AND c.relkind IN ('r', 'v', 'm', 'S', 'p', 'f')
           AND (has_table_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
                OR (c.relkind = 'S' AND has_sequence_privilege($1, c.oid, 'USAGE,SELECT,UPDATE')))`,
        [DASHBOARD_READER_ROLE],
      );
      expect(grants.rows).toEqual([]);
      expect(await sqlState(reader, 'COPY public.client_secrets TO STDOUT')).toBe('42501');
      expect(await sqlState(reader, `SELECT nextval('public.audit_logs_id_seq')`)).toBe('42501');
    });

    it('cannot write through a view, with read-only on or switched off: the grant is SELECT only', async () => {
      // Single-table views are automatically updatable: only the grant stands in the way.
      const updatable = [
        `INSERT INTO dashboard.backup_runs (kind, status) VALUES ('n8n', 'running')`,
        `UPDATE dashboard.audit_verifications SET ok = false`,
        `DELETE FROM dashboard.backup_runs`,
        `UPDATE dashboard.clients SET name = 'Hacked'`,
      ];
      // Views over a join or a UNION are not updatable at all.
      const notUpdatable = [
        `DELETE FROM dashboard.invoices`,
        `UPDATE dashboard.automations SET enabled = false`,
        `DELETE FROM dashboard.audit_log`,
        `INSERT INTO dashboard.activity_feed (time) VALUES (now())`,
      ];
      for (const readOnly of ['on', 'off']) {
        await reader.query(`SET default_transaction_read_only = ${readOnly}`);
        for (const sql of updatable) expect([readOnly, sql, await sqlState(reader, sql)]).toEqual([readOnly, sql, '42501']);
        for (const sql of notUpdatable) expect([readOnly, sql, await sqlState(reader, sql)]).toEqual([readOnly, sql, '55000']);
        expect(await sqlState(reader, `TRUNCATE dashboard.backup_runs`)).toBe(readOnly === 'on' ? '25006' : '42809'); // not a table
      }
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM backup_runs`)).rows[0].n).toBe(2);
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM clients WHERE name = 'Hacked'`)).rows[0].n).toBe(0);
    });

    it('cannot write a table: refused read-only, and refused by the grant when read-only is switched off', async () => {
      const writes = [
        `INSERT INTO public.clients (slug, name) VALUES ('evil', 'Evil')`,
        `UPDATE public.client_secrets SET revoked_at = now()`,
        `DELETE FROM public.api_keys`,
        `UPDATE public.admin_users SET password_hash = 'scrypt$x'`,
        `INSERT INTO public.audit_logs (actor, action, outcome, prev_hash, hash) VALUES ('x', 'x.y', 'success', '', '')`,
        `DELETE FROM public.audit_chain_head`,
        `TRUNCATE public.refresh_tokens`,
      ];
      for (const sql of writes) expect([sql, await sqlState(reader, sql)]).toEqual([sql, '25006']);
      await reader.query('SET default_transaction_read_only = off');
      for (const sql of writes) expect([sql, await sqlState(reader, sql)]).toEqual([sql, '42501']);
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM api_keys`)).rows[0].n).toBe(1);
    });

    it('cannot create anything: tables in public or dashboard, temporary tables, functions, schemas', async () => {
      const creates = [
        'CREATE TABLE public.stash (x text)',
        'CREATE TABLE dashboard.stash (x text)',
        'CREATE VIEW dashboard.more AS SELECT 1',
        'CREATE TEMP TABLE stash (x text)',
        `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'`,
        'CREATE SCHEMA stash',
        'CREATE EXTENSION dblink',
      ];
      // Read-only stops them first; switched off, the missing rights do.
      for (const sql of creates) expect([sql, await sqlState(reader, sql)]).toEqual([sql, '25006']);
      await reader.query('SET default_transaction_read_only = off');
      for (const sql of creates) expect([sql, await sqlState(reader, sql)]).toEqual([sql, '42501']);
    });

    it('cannot call the encryption functions, nor any other function of the platform', async () => {
      const { rows: secret } = await db.pool.query<{ ciphertext: Buffer }>('SELECT ciphertext FROM client_secrets LIMIT 1');
      expect(await sqlState(reader, 'SELECT public.ct_decrypt_secret($1, $2)', [secret[0]!.ciphertext, keyring.keys.k1])).toBe('42501');
      expect(await sqlState(reader, 'SELECT public.ct_encrypt_secret($1, $2)', ['x', keyring.keys.k1])).toBe('42501');
      expect(await sqlState(reader, `SELECT public.ct_hash_api_key('ct_x')`)).toBe('42501');
      expect(await sqlState(reader, `SELECT public.pgp_sym_decrypt($1, $2)`, [secret[0]!.ciphertext, keyring.keys.k1])).toBe('42501');
      expect(await sqlState(reader, `SELECT * FROM public.audit_chain_verify()`)).toBe('42501');
      expect(await sqlState(reader, `CALL public.ct_dashboard_reader_grants()`)).toBe('42501');
      const callable = await db.pool.query(
        `SELECT p.oid::regprocedure::text AS f FROM pg_proc p
         WHERE p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
           AND has_function_privilege($1, p.oid, 'EXECUTE')`,
        [DASHBOARD_READER_ROLE],
      );
      expect(callable.rows).toEqual([]);
    });

    it('cannot become another role', async () => {
      const owner = (await db.pool.query(`SELECT pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname = current_database()`)).rows[0]
        .o;
      for (const role of new Set(['postgres', owner as string])) {
        expect(await sqlState(reader, `SET ROLE ${role}`)).toBe('42501');
        expect(await sqlState(reader, `SET SESSION AUTHORIZATION ${role}`)).toBe('42501');
      }
      expect(await sqlState(reader, `SET ROLE pg_read_all_data`)).toBe('42501');
    });

    it('cannot reach a secret through the catalog, the server files or other sessions', async () => {
      await reader.query('SET default_transaction_read_only = off');
      const refused = [
        `SELECT pg_read_file('/etc/passwd')`,
        `SELECT pg_read_binary_file('/etc/passwd')`,
        `SELECT pg_ls_dir('.')`,
        `SELECT pg_stat_file('postgresql.auto.conf')`,
        `SELECT lo_import('/etc/passwd')`,
        `COPY (SELECT 1) TO PROGRAM 'id'`,
        `COPY (SELECT 1) TO '/tmp/reader-stash'`,
        `SELECT rolpassword FROM pg_authid`,
        `SELECT passwd FROM pg_shadow`,
        `SELECT * FROM pg_file_settings`,
        `SELECT * FROM pg_hba_file_rules`,
        `SELECT current_setting('data_directory')`,
        `SELECT current_setting('config_file')`,
        `SELECT * FROM pg_largeobject`,
      ];
      for (const sql of refused) expect([sql, await sqlState(reader, sql)]).toEqual([sql, '42501']);
      // pg_roles, which it may read, masks passwords.
      const masked = await reader.query(`SELECT rolpassword FROM pg_roles WHERE rolname = $1`, [DASHBOARD_READER_ROLE]);
      expect(masked.rows[0].rolpassword).toBe('********');

      // The owner's sessions: their statements (the encryption key travels as a parameter, the
      // statement names the function) are not shown to the role, and it cannot end them.
      const owner = new Client({ connectionString: db.ownerUrl });
      await owner.connect();
      try {
        await owner.query('BEGIN');
        await owner.query(`SELECT 'marker-for-reader-test', ct_hash_api_key('ct_probe')`);
        const pid = (await owner.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        const seen = await reader.query(`SELECT query, usename FROM pg_stat_activity WHERE pid = $1`, [pid]);
        expect(seen.rows).toHaveLength(1);
        expect(seen.rows[0].query).toBe('<insufficient privilege>');
        expect(await sqlState(reader, 'SELECT pg_terminate_backend($1)', [pid])).toBe('42501');
        expect(await sqlState(reader, 'SELECT pg_cancel_backend($1)', [pid])).toBe('42501');
      } finally {
        await owner.query('ROLLBACK');
        await owner.end();
      }
    });

    it('cannot store large objects or take advisory locks (the audit chain and migration locks)', async () => {
      for (const readOnly of ['on', 'off']) {
        await reader.query(`SET default_transaction_read_only = ${readOnly}`);
        expect(await sqlState(reader, 'SELECT lo_create(0)')).toBe('42501');
        expect(await sqlState(reader, `SELECT lo_from_bytea(0, 'stash')`)).toBe('42501');
        expect(await sqlState(reader, `SELECT pg_advisory_lock(hashtext('ct.audit_logs.chain'))`)).toBe('42501');
        expect(await sqlState(reader, `SELECT pg_try_advisory_lock(1668558189)`)).toBe('42501');
        expect(await sqlState(reader, `SELECT pg_advisory_lock_shared(1, 2)`)).toBe('42501');
      }
      const stored = await db.pool.query(`SELECT count(*)::int AS n FROM pg_largeobject_metadata WHERE lomowner = $1::regrole`, [
        DASHBOARD_READER_ROLE,
      ]);
      expect(stored.rows[0].n).toBe(0);
      // The platform, connected as the owner, still takes them (audit rows chain under one).
      await writeAudit(db.pool, { actor: 'test', action: 'reader.check', outcome: 'success' });
    });
  });

  it('answers "latest 50, newest first" of many events from two backward index scans', async () => {
    const big = await createTestDatabase({ prefix: 'readerplan' });
    const r = await connectAs(big.url, DASHBOARD_READER_ROLE);
    try {
      await big.pool.query(`INSERT INTO clients (slug, name) SELECT 'c-' || g, 'Client ' || g FROM generate_series(1, 20) g`);
      await big.pool.query(
        `INSERT INTO activity_events (client_id, kind, occurred_at, details, idempotency_key)
         SELECT c.ids[1 + g % 20], 'lead.captured', now() - make_interval(secs => g), jsonb_build_object('summary', 'Lead ' || g), 'k' || g
         FROM generate_series(1, 50000) g, (SELECT array_agg(id ORDER BY slug) AS ids FROM clients) c`,
      );
      await big.pool.query(
        `INSERT INTO audit_logs (actor, action, target_type, target_id, outcome, prev_hash, hash)
         SELECT 'ops', 'client.update', 'client', 'x', 'success', '', '' FROM generate_series(1, 5000)`,
      );
      await big.pool.query('ANALYZE');
      const sql = 'SELECT * FROM dashboard.activity_feed ORDER BY time DESC LIMIT 50';
      const { rows } = await r.query(`EXPLAIN (FORMAT JSON, ANALYZE, TIMING OFF) ${sql}`);
      const plan = JSON.stringify(rows[0]['QUERY PLAN']);
      expect(plan).toContain('"Node Type":"Merge Append"');
      expect(plan).toMatch(/"Scan Direction":"Backward","Index Name":"activity_events_occurred_idx"/);
      expect(plan).toMatch(/"Scan Direction":"Backward","Index Name":"audit_logs_at_idx"/);
      expect(plan).not.toContain('"Node Type":"Seq Scan"');
      expect(plan).not.toContain('"Node Type":"Sort"');
      const t0 = process.hrtime.bigint();
      const res = await r.query(sql);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      expect(res.rows).toHaveLength(50);
      expect(ms).toBeLessThan(500);
    } finally {
      await r.end();
      await big.drop();
    }
  });
});

describe('ct migrate and the role', () => {
  it('computes the verifier PostgreSQL itself stores for a password', async () => {
    const admin = new Client({ connectionString: benchEnv('DATABASE_OWNER_URL') });
    await admin.connect();
    const role = `scram_probe_${randomBytes(4).toString('hex')}`;
    const password = `Probe-${randomBytes(12).toString('base64url')}!#%&()*+,-./:;<=>?@[]^_{|}~`;
    try {
      await admin.query(`CREATE ROLE ${role}`);
      await admin.query(`SET password_encryption = 'scram-sha-256'`);
      // Plaintext on purpose: the server computes its own verifier, with its own salt.
      await admin.query(`ALTER ROLE ${role} PASSWORD '${password}'`);
      const stored = (await admin.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role])).rows[0].rolpassword as string;
      const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored)!;
      expect(scramSha256Verifier(password, { iterations: Number(m[1]), salt: Buffer.from(m[2]!, 'base64') })).toBe(stored);
      expect(scramVerifierMatches(stored, password)).toBe(true);
      expect(scramVerifierMatches(stored, `${password}x`)).toBe(false);
    } finally {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });

  it('sets DASHBOARD_DB_PASSWORD on the role as a SCRAM verifier, says so without printing it, and a second run keeps it', async () => {
    const db = await createTestDatabase({ migrate: false, prefix: 'readerpw' });
    const password = `reader-${randomBytes(18).toString('base64url')}`;
    try {
      const env = { ...process.env, DATABASE_OWNER_URL: db.ownerUrl, DASHBOARD_DB_PASSWORD: password };
      const first = await runCt(['migrate'], { env });
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(first.stdout).toContain('applying 014_create_dashboard_reader.sql');
      expect(first.stdout).toContain('password of ct_dashboard_reader set from DASHBOARD_DB_PASSWORD');
      const stored = (await db.pool.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [DASHBOARD_READER_ROLE])).rows[0]
        .rolpassword;
      expect(stored).toMatch(/^SCRAM-SHA-256\$4096:/);
      expect(scramVerifierMatches(stored, password)).toBe(true);

      const second = await runCt(['migrate'], { env });
      expect(second.code).toBe(0);
      expect(second.stdout).toMatch(/up to date .*nothing to do/);
      expect(second.stdout).toContain('password of ct_dashboard_reader already matches DASHBOARD_DB_PASSWORD');
      expect(
        (await db.pool.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [DASHBOARD_READER_ROLE])).rows[0].rolpassword,
      ).toBe(stored);
      for (const out of [first.stdout, first.stderr, second.stdout, second.stderr]) expect(out).not.toContain(password);
    } finally {
      await db.drop();
    }
  });

  it.each([
    ['too short', 'tiny-pass-1', 'DASHBOARD_DB_PASSWORD: must be at least 16 characters'],
    ['too weak', 'abababababababababab', 'DASHBOARD_DB_PASSWORD: is too weak'],
    ['spaced', 'a perfectly long pass phrase', 'DASHBOARD_DB_PASSWORD: must be printable ASCII without spaces'],
  ])('refuses DASHBOARD_DB_PASSWORD %s, naming it, before migrating anything', async (_what, value, message) => {
    const db = await createTestDatabase({ migrate: false, prefix: 'readerpw' });
    try {
      const res = await runCt(['migrate'], { env: { ...process.env, DATABASE_OWNER_URL: db.ownerUrl, DASHBOARD_DB_PASSWORD: value } });
      expect(res.code).toBe(78);
      expect(res.stderr).toContain(message);
      expect(res.stderr).not.toContain(value);
      expect((await db.pool.query(`SELECT to_regclass('schema_migrations') AS t`)).rows[0].t).toBeNull();
    } finally {
      await db.drop();
    }
  });

  it('gives a database restored without privileges its grants back on the next run', async () => {
    const db = await createTestDatabase({ prefix: 'readerre' });
    try {
      // What pg_restore --no-privileges leaves: the views, none of the grants or revocations.
      await db.pool.query(`REVOKE SELECT ON ALL TABLES IN SCHEMA dashboard FROM ${DASHBOARD_READER_ROLE}`);
      await db.pool.query(`REVOKE USAGE ON SCHEMA dashboard FROM ${DASHBOARD_READER_ROLE}`);
      await db.pool.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC`);
      await db.pool.query(`GRANT EXECUTE ON FUNCTION pg_catalog.lo_create(oid) TO PUBLIC`);
      const res = await runCt(['migrate'], { env: { ...process.env, DATABASE_OWNER_URL: db.ownerUrl, DASHBOARD_DB_PASSWORD: '' } });
      expect(res.code).toBe(0);
      expect(res.stdout).toContain('DASHBOARD_DB_PASSWORD is not set: the password of ct_dashboard_reader was left as it is');
      const { rows } = await db.pool.query(
        `SELECT has_table_privilege($1, 'dashboard.activity_feed', 'SELECT') AS feed,
                has_function_privilege($1, 'ct_decrypt_secret(bytea, text)', 'EXECUTE') AS decrypt,
                has_function_privilege($1, 'pg_catalog.lo_create(oid)', 'EXECUTE') AS lo`,
        [DASHBOARD_READER_ROLE],
      );
      expect(rows[0]).toEqual({ feed: true, decrypt: false, lo: false });
    } finally {
      await db.drop();
    }
  });

  it('two databases migrating at the same moment both succeed', async () => {
    const [a, b] = await Promise.all([
      createTestDatabase({ migrate: false, prefix: 'readerrace' }),
      createTestDatabase({ migrate: false, prefix: 'readerrace' }),
    ]);
    try {
      const password = `reader-${randomBytes(18).toString('base64url')}`;
      const run = (d: TestDatabase) =>
        runCt(['migrate'], { env: { ...process.env, DATABASE_OWNER_URL: d.ownerUrl, DASHBOARD_DB_PASSWORD: password } });
      const [ra, rb] = await Promise.all([run(a), run(b)]);
      expect([ra.code, ra.stderr, rb.code, rb.stderr]).toEqual([0, '', 0, '']);
      for (const d of [a, b]) {
        const { rows } = await d.pool.query(
          `SELECT (SELECT count(*)::int FROM schema_migrations WHERE name = '014_create_dashboard_reader.sql') AS applied,
                  has_table_privilege($1, 'dashboard.clients', 'SELECT') AS reads`,
          [DASHBOARD_READER_ROLE],
        );
        expect(rows[0]).toEqual({ applied: 1, reads: true });
      }
      const stored = (await a.pool.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [DASHBOARD_READER_ROLE])).rows[0]
        .rolpassword;
      expect(scramVerifierMatches(stored, password)).toBe(true);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
  });

  /**
   * The role is created by whichever database migrates first; the race is made certain here: a
   * third session holds the role's row in an open transaction while two databases run the
   * migration, both wait on it, then it ends. It created the role and commits (both then find a
   * role with the wrong attributes and fix it at once), created it and rolls back (both try to
   * create it at once), or changed an existing role's row and commits (both were updating the
   * old row version: "tuple concurrently updated"). A fresh role name keeps the cluster's real
   * role out of it.
   */
  describe.each([
    ['creates the role and commits', false, 'CREATE', 'COMMIT'],
    ['creates the role and rolls back', false, 'CREATE', 'ROLLBACK'],
    ['changes the role and commits', true, 'ALTER', 'COMMIT'],
  ] as const)('another session that %s meanwhile', (_label, exists, change, end) => {
    it('leaves both migrations applied and the role as specified', async () => {
      const role = `ct_reader_race_${randomBytes(4).toString('hex')}`;
      const dir = mkdtempSync(path.join(tmpdir(), 'ct-reader-race-'));
      const base = benchEnv('DATABASE_OWNER_URL');
      const dbs = await Promise.all([
        createTestDatabase({ migrate: false, prefix: 'readerrace' }),
        createTestDatabase({ migrate: false, prefix: 'readerrace' }),
      ]);
      const blocker = new Client({ connectionString: base });
      const watcher = new Client({ connectionString: base });
      await Promise.all([blocker.connect(), watcher.connect()]);
      try {
        // The migrations before 014, applied; then 014 with the role renamed, to be raced.
        const file = path.join(dir, '014_create_dashboard_reader.sql');
        cpSync(MIGRATIONS_DIR, dir, { recursive: true, filter: (src) => src === MIGRATIONS_DIR || path.basename(src) < '014' });
        await Promise.all(dbs.map((d) => migrate(d.pool, { dir })));
        writeFileSync(
          file,
          readFileSync(path.join(MIGRATIONS_DIR, '014_create_dashboard_reader.sql'), 'utf8').replaceAll(DASHBOARD_READER_ROLE, role),
        );

        // NOLOGIN and INHERIT, as CREATE ROLE makes it: attributes the migration must fix.
        if (exists) await watcher.query(`CREATE ROLE ${role}`);
        await blocker.query('BEGIN');
        await blocker.query(change === 'CREATE' ? `CREATE ROLE ${role}` : `ALTER ROLE ${role} CONNECTION LIMIT 5`);
        const runs = dbs.map((d) => {
          const pool = createPool({ url: d.ownerUrl, max: 1, applicationName: 'reader-race' });
          return migrate(pool, { dir }).finally(() => pool.end());
        });
        // Both migrations are inside the role step, waiting for the blocker's transaction. (Another
        // session watches: within the blocker's transaction pg_stat_activity would not change.)
        const names = dbs.map((d) => d.name);
        const deadline = Date.now() + 20_000;
        for (;;) {
          const { rows } = await watcher.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE datname = ANY($1) AND application_name = 'reader-race' AND wait_event_type = 'Lock'`,
            [names],
          );
          if (rows[0].n === 2) break;
          if (Date.now() > deadline) throw new Error('the two migrations never waited on the role');
          await new Promise((r) => setTimeout(r, 50));
        }
        await blocker.query(end);
        const results = await Promise.allSettled(runs);
        expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);

        const { rows } = await blocker.query(
          `SELECT rolcanlogin, rolinherit, rolsuper,
                  (SELECT setconfig FROM pg_db_role_setting WHERE setrole = r.oid AND setdatabase = 0) AS settings
           FROM pg_roles r WHERE rolname = $1`,
          [role],
        );
        expect(rows[0].rolcanlogin).toBe(true);
        expect(rows[0].rolinherit).toBe(false);
        expect(rows[0].rolsuper).toBe(false);
        expect([...rows[0].settings].sort()).toEqual([
          'default_transaction_read_only=on',
          'idle_in_transaction_session_timeout=1min',
          'statement_timeout=15s',
        ]);
        for (const d of dbs) {
          const reads = await d.pool.query(`SELECT has_table_privilege($1, 'dashboard.activity_feed', 'SELECT') AS ok`, [role]);
          expect(reads.rows[0].ok).toBe(true);
        }
      } finally {
        await blocker.query('ROLLBACK').catch(() => undefined);
        await Promise.all(dbs.map((d) => d.drop()));
        await blocker.query(`DROP ROLE IF EXISTS ${role}`);
        await Promise.all([blocker.end(), watcher.end()]);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
