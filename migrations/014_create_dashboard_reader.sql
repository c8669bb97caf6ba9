-- The read-only role through which Grafana's admin dashboards read the platform database, and
-- the views made for them in the schema `dashboard`. The views run with their owner's rights
-- (not security_invoker), so the role needs, and has, no right on any table: it reads what the
-- views show (no contact details, secrets, hashes or audit details) and nothing else.
-- Its password is not set here: `ct migrate` sets it from DASHBOARD_DB_PASSWORD.
-- A later migration that changes a column these views read must recreate the views.

CREATE SCHEMA dashboard;
COMMENT ON SCHEMA dashboard IS 'Views read by Grafana (role ct_dashboard_reader); nothing else belongs here.';

-- The activity feed's "latest N, newest first" walks this index backwards.
CREATE INDEX activity_events_occurred_idx ON activity_events (occurred_at);

CREATE VIEW dashboard.clients AS
SELECT c.slug,
       c.name,
       c.status,
       c.plan,
       c.created_at,
       -- The later of the recorded activity and the newest event (greatest ignores a NULL).
       greatest(c.last_activity_at,
                (SELECT max(e.occurred_at) FROM public.activity_events e WHERE e.client_id = c.id)) AS last_activity_at
FROM public.clients c;

-- Client events and audit rows on one time line. Each branch of the UNION reads one table, so
-- ORDER BY time DESC LIMIT n merges two backward index scans (activity_events_occurred_idx,
-- audit_logs_at_idx) and looks up the clients of those n rows only; a branch that joined clients
-- itself would be planned apart and read its whole table first.
CREATE VIEW dashboard.activity_feed AS
SELECT f.time,
       c.slug AS client_slug,
       c.name AS client,
       f.source,
       -- An event: its summary, else its kind. An audit row: "client.update client pizza-co", the
       -- action and its target (a client by its slug).
       concat_ws(' ', f.what, f.target_type,
                 CASE WHEN f.target_type = 'client' AND f.target_id = c.id::text THEN c.slug ELSE f.target_id END) AS what,
       f.actor,
       f.outcome
FROM (
  SELECT e.occurred_at AS time,
         e.client_id,
         'event'::text AS source,
         coalesce(left(nullif(btrim(e.details ->> 'summary'), ''), 200), e.kind) AS what,
         NULL::text AS target_type,
         NULL::text AS target_id,
         NULL::text AS actor,
         NULL::text AS outcome
  FROM public.activity_events e
  UNION ALL
  SELECT a.at, a.client_id, 'audit'::text, a.action, a.target_type, a.target_id, a.actor, a.outcome
  FROM public.audit_logs a
) f
LEFT JOIN public.clients c ON c.id = f.client_id;

-- The audit log without its details and chain hashes.
CREATE VIEW dashboard.audit_log AS
SELECT a.id,
       a.at,
       a.actor,
       a.actor_type,
       a.action,
       a.target_type,
       a.target_id,
       c.slug AS client_slug,
       c.name AS client,
       a.outcome,
       host(a.source_ip) AS source_ip,
       a.request_id
FROM public.audit_logs a
LEFT JOIN public.clients c ON c.id = a.client_id;

CREATE VIEW dashboard.invoices AS
SELECT c.slug AS client_slug,
       c.name AS client,
       i.number,
       round(i.amount_cents / 100.0, 2) AS amount,
       i.currency::text AS currency,
       i.status,
       i.issued_at,
       i.due_at,
       i.paid_at,
       (i.status = 'open' AND coalesce(i.due_at < now(), false)) AS overdue
FROM public.invoices i
JOIN public.clients c ON c.id = i.client_id;

CREATE VIEW dashboard.automations AS
SELECT c.slug AS client_slug,
       c.name AS client,
       a.name,
       a.n8n_workflow_id,
       a.enabled,
       a.minutes_saved_per_run,
       round(a.hourly_value_cents / 100.0, 2) AS hourly_value,
       a.currency::text AS currency,
       a.created_at
FROM public.automations a
JOIN public.clients c ON c.id = a.client_id;

CREATE VIEW dashboard.backup_runs AS
SELECT b.kind,
       b.status,
       b.started_at,
       b.finished_at,
       -- NULL while the run is still going.
       extract(epoch FROM b.finished_at - b.started_at)::double precision AS duration_seconds,
       b.bytes,
       b.object_key,
       left(b.error, 300) AS error
FROM public.backup_runs b;

CREATE VIEW dashboard.audit_verifications AS
SELECT v.at,
       v.ok,
       v.rows_checked,
       v.first_bad_id,
       v.reason,
       v.duration_seconds
FROM public.audit_verifications v;

-- Creates the role if it is missing and puts its attributes, its settings and this database's
-- grants where they belong. Called here and by every `ct migrate` run, so a database restored
-- without privileges (pg_restore --no-privileges, as `ct backup restore` does) gets them back.
-- Each step looks before it writes: a run that finds everything in place changes nothing.
CREATE PROCEDURE ct_dashboard_reader_grants()
LANGUAGE plpgsql AS $$
DECLARE
  v_attempt int;
  v_role oid;
  v_routine regprocedure;
  v_view regclass;
BEGIN
  -- Roles and their settings are cluster-wide, and many databases of one cluster may migrate at
  -- the same moment. Two creators of the role: the second waits for the first to commit, then gets
  -- unique_violation (duplicate_object if it looked after the commit). Two writers of the same
  -- role row or setting: the second gets "tuple concurrently updated". Either way the other run
  -- has done the work: look again with a fresh snapshot.
  FOR v_attempt IN 1..10 LOOP
    BEGIN
      SELECT oid INTO v_role FROM pg_roles WHERE rolname = 'ct_dashboard_reader';
      IF v_role IS NULL THEN
        CREATE ROLE ct_dashboard_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
      ELSIF EXISTS (SELECT FROM pg_roles WHERE oid = v_role AND (NOT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole
                                                                 OR rolinherit OR rolreplication OR rolbypassrls)) THEN
        ALTER ROLE ct_dashboard_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
      END IF;
      -- Defence in depth: Grafana's queries cannot write even where a grant would let them, and a
      -- runaway panel query stops after 15 s.
      IF NOT EXISTS (SELECT FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                     WHERE r.rolname = 'ct_dashboard_reader' AND s.setdatabase = 0
                       AND 'default_transaction_read_only=on' = ANY (s.setconfig)) THEN
        ALTER ROLE ct_dashboard_reader SET default_transaction_read_only = on;
      END IF;
      IF NOT EXISTS (SELECT FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                     WHERE r.rolname = 'ct_dashboard_reader' AND s.setdatabase = 0
                       AND 'statement_timeout=15s' = ANY (s.setconfig)) THEN
        ALTER ROLE ct_dashboard_reader SET statement_timeout = '15s';
      END IF;
      -- An open transaction left idle would hold its locks and block migrations.
      IF NOT EXISTS (SELECT FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                     WHERE r.rolname = 'ct_dashboard_reader' AND s.setdatabase = 0
                       AND 'idle_in_transaction_session_timeout=1min' = ANY (s.setconfig)) THEN
        ALTER ROLE ct_dashboard_reader SET idle_in_transaction_session_timeout = '1min';
      END IF;
      EXIT;
    EXCEPTION WHEN duplicate_object OR unique_violation OR internal_error THEN
      IF v_attempt = 10 OR (SQLSTATE = 'XX000' AND SQLERRM <> 'tuple concurrently updated') THEN
        RAISE;
      END IF;
    END;
  END LOOP;

  -- Functions get EXECUTE for PUBLIC by default; the platform's (and pgcrypto's) are for the
  -- owner only, which the services connect as. ct_decrypt_secret and its kind stay out of reach of
  -- every other role, this one included, and functions created later start without it.
  FOR v_routine IN
    SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')
  LOOP
    EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', v_routine);
  END LOOP;
  ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON ROUTINES FROM PUBLIC;

  -- Built-in functions that PUBLIC may call and that would let any role write or block: large
  -- objects (lo_create and lo_from_bytea work even in a read-only transaction) and advisory locks
  -- (one held on the audit chain's key would stop every audited action; one on the migration key,
  -- every migration). In this database only the owner and the migrating role keep them (changing
  -- a built-in function's privileges takes a superuser; without one this step changes nothing).
  FOR v_routine IN
    SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.pronamespace = 'pg_catalog'::regnamespace
      AND (p.proname IN ('lo_creat', 'lo_create', 'lo_from_bytea', 'lo_put', 'lo_open', 'lowrite',
                         'lo_truncate', 'lo_truncate64', 'lo_unlink')
           OR p.proname LIKE 'pg\_%advisory\_%')
      AND has_function_privilege('public', p.oid, 'EXECUTE')
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', v_routine,
                   (SELECT pg_get_userbyid(d.datdba) FROM pg_database d WHERE d.datname = current_database()));
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', v_routine, current_user);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', v_routine);
  END LOOP;

  -- Nobody but the owner creates objects, temporary ones included (a fresh PostgreSQL 15 already
  -- refuses CREATE in public; a cluster upgraded from an older version may not).
  IF has_schema_privilege('public', 'public', 'CREATE') THEN
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
  END IF;
  IF has_database_privilege('public', current_database(), 'TEMPORARY') THEN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  END IF;

  -- The role reads the views of `dashboard`, and only them (SELECT: a single-table view is
  -- updatable, so any wider grant would let it write through one).
  IF NOT has_schema_privilege('ct_dashboard_reader', 'dashboard', 'USAGE') THEN
    GRANT USAGE ON SCHEMA dashboard TO ct_dashboard_reader;
  END IF;
  FOR v_view IN
    SELECT c.oid::regclass FROM pg_class c
    WHERE c.relnamespace = 'dashboard'::regnamespace AND c.relkind IN ('v', 'm')
      AND NOT has_table_privilege('ct_dashboard_reader', c.oid, 'SELECT')
  LOOP
    EXECUTE format('GRANT SELECT ON %s TO ct_dashboard_reader', v_view);
  END LOOP;
END
$$;

CALL ct_dashboard_reader_grants();
