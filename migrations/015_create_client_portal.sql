-- What a client's own Grafana organisation reads from the platform database: the views of schema
-- `portal`, through one database role per client (`ct_portal_<slug with - as _>`, created by
-- ensureClientRole in @ct/client-portal, which calls ct_portal_client_role below).
--
-- How a client's role sees only its own rows, whatever SQL it sends:
--
-- * The role is bound to its client by `portal.client_roles` (role name → client id), written
--   only by the platform. Every row filter compares a row's client with the client mapped to
--   `current_user`. A login role cannot change its current_user: it is a member of no role (SET
--   ROLE and SET SESSION AUTHORIZATION are refused), may call none of the platform's functions
--   (EXECUTE is revoked from PUBLIC, migration 014), and no SECURITY DEFINER function is involved.
--   A role that is mapped to no client (the platform's own, any other) sees no row.
--
-- * Row-level security on the tables the views read (clients, activity_events, invoices,
--   automations), with the policy `portal_own_client_rows` for every role (TO PUBLIC). The table
--   owner, which the services connect as, is exempt (no FORCE), so nothing of the platform
--   changes. Any other role reading these tables gets only the rows of the client mapped to it.
--
-- * The views do not run with the client's rights. A view reads its tables with its owner's
--   privileges and its owner's row-level security, unless `security_invoker` (PostgreSQL 15) is
--   set. With security_invoker, the client role itself would need SELECT on the tables: it could
--   read them directly (its own rows, every column) and pg_stats would show it the statistics of
--   those columns (most common values, histograms) — values of every client's rows. So the views
--   are owned by `ct_portal_owner`, a role that cannot log in, is granted SELECT on exactly the
--   columns the views show, and does not own the tables: row-level security applies to it, and
--   the policies, evaluated in its name, see `current_user` = the client role that queried the
--   view. The client role is granted SELECT on the views and nothing else: no table, no column of
--   a table (so pg_stats shows it nothing of them), no function, no schema it can create in.
--
-- * Defence in depth: each view also filters on the mapped client itself, and is a
--   security_barrier view, so a condition the caller adds runs only on rows the view already
--   kept (an error-raising condition cannot probe the others). Should the views ever end up owned
--   by the tables' owner — `pg_restore --no-owner`, as `ct backup restore` runs it, does that —
--   row-level security would not apply to them, and this filter alone keeps each client to its
--   rows; ct_portal_grants() (run by this migration and by every ensureClientRole) gives them
--   back to ct_portal_owner.
--
-- Roles are cluster-wide; the mapping, the grants and the policies belong to this database.
-- What PostgreSQL shows every role and cannot hide: the catalog (names of tables, views and
-- roles — other clients' role names included — and table sizes), EXPLAIN's estimates. Never rows.

CREATE SCHEMA portal;
COMMENT ON SCHEMA portal IS 'Views read by client organisations (roles ct_portal_*); nothing else belongs here but the role map.';

-- The platform writes this; the client roles cannot read it (their views read it as ct_portal_owner).
CREATE TABLE portal.client_roles (
  role       name PRIMARY KEY CONSTRAINT client_roles_role_format CHECK (role ~ '^ct_portal_[a-z0-9_]{2,40}$'),
  client_id  uuid NOT NULL UNIQUE REFERENCES public.clients (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE portal.client_roles IS 'Which client each portal role is: row-level security and the portal views compare rows with the client mapped to current_user.';

-- The one row filter, written out in each policy and view (a function would need EXECUTE).
-- For every role but the tables' owner (and superusers, who bypass row-level security).
ALTER TABLE public.clients ENABLE ROW LEVEL SECURITY;
CREATE POLICY portal_own_client_rows ON public.clients FOR SELECT TO PUBLIC
  USING (id = (SELECT m.client_id FROM portal.client_roles m WHERE m.role = current_user));

ALTER TABLE public.activity_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY portal_own_client_rows ON public.activity_events FOR SELECT TO PUBLIC
  USING (client_id = (SELECT m.client_id FROM portal.client_roles m WHERE m.role = current_user));

ALTER TABLE public.invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY portal_own_client_rows ON public.invoices FOR SELECT TO PUBLIC
  USING (client_id = (SELECT m.client_id FROM portal.client_roles m WHERE m.role = current_user));

ALTER TABLE public.automations ENABLE ROW LEVEL SECURITY;
CREATE POLICY portal_own_client_rows ON public.automations FOR SELECT TO PUBLIC
  USING (client_id = (SELECT m.client_id FROM portal.client_roles m WHERE m.role = current_user));

-- The client's own row: no contact details.
CREATE VIEW portal.client WITH (security_barrier) AS
SELECT c.slug,
       c.name,
       c.status,
       c.plan,
       c.timezone,
       greatest(c.last_activity_at,
                (SELECT max(e.occurred_at) FROM public.activity_events e WHERE e.client_id = c.id)) AS last_activity_at
FROM public.clients c
WHERE c.id = (SELECT m.client_id FROM portal.client_roles m WHERE m.role = current_user);

-- What the client's workflows reported, in words: the event's summary, else its kind. The
-- "latest N, newest first" read walks activity_events_client_time_idx backwards.
CREATE VIEW portal.activity_feed WITH (security_barrier) AS
SELECT e.occurred_at AS time,
       e.kind,
       coalesce(left(nullif(btrim(e.details ->> 'summary'), ''), 200), e.kind) AS what
FROM public.activity_events e
WHERE e.client_id = (SELECT m.client_id FROM portal.client_roles m WHERE m.role = current_user);

-- The client's invoices once issued (drafts are the agency's work in progress).
CREATE VIEW portal.invoices WITH (security_barrier) AS
SELECT i.number,
       round(i.amount_cents / 100.0, 2) AS amount,
       i.currency::text AS currency,
       i.status,
       i.issued_at,
       i.due_at,
       i.paid_at,
       (i.status = 'open' AND coalesce(i.due_at < now(), false)) AS overdue
FROM public.invoices i
WHERE i.client_id = (SELECT m.client_id FROM portal.client_roles m WHERE m.role = current_user)
  AND i.status <> 'draft';

-- The client's automations and what each run is worth.
CREATE VIEW portal.automations WITH (security_barrier) AS
SELECT a.name,
       a.enabled,
       a.minutes_saved_per_run,
       round(a.hourly_value_cents / 100.0, 2) AS hourly_value,
       a.currency::text AS currency,
       a.created_at
FROM public.automations a
WHERE a.client_id = (SELECT m.client_id FROM portal.client_roles m WHERE m.role = current_user);

-- Creates ct_portal_owner if it is missing, gives it exactly the column rights the views need,
-- makes it the owner of every view of `portal`, and checks row-level security is on. Run here and
-- by every ensureClientRole, so a database restored without owners or privileges is put right
-- before a client is granted anything. Each step looks before it writes.
CREATE PROCEDURE ct_portal_grants()
LANGUAGE plpgsql AS $$
DECLARE
  v_attempt int;
  v_role oid;
  v_member oid;
  v_view regclass;
  v_table text;
  v_column text;
  v_columns CONSTANT text[][] := ARRAY[
    ['clients', 'id'], ['clients', 'slug'], ['clients', 'name'], ['clients', 'status'], ['clients', 'plan'],
    ['clients', 'timezone'], ['clients', 'last_activity_at'],
    ['activity_events', 'client_id'], ['activity_events', 'occurred_at'], ['activity_events', 'kind'],
    ['activity_events', 'details'],
    ['invoices', 'client_id'], ['invoices', 'number'], ['invoices', 'amount_cents'], ['invoices', 'currency'],
    ['invoices', 'status'], ['invoices', 'issued_at'], ['invoices', 'due_at'], ['invoices', 'paid_at'],
    ['automations', 'client_id'], ['automations', 'name'], ['automations', 'enabled'],
    ['automations', 'minutes_saved_per_run'], ['automations', 'hourly_value_cents'], ['automations', 'currency'],
    ['automations', 'created_at']];
  i int;
BEGIN
  -- Roles are cluster-wide and many databases of one cluster may run this at the same moment: a
  -- second creator gets unique_violation or duplicate_object, a second writer of one role row
  -- "tuple concurrently updated". The other run did the work: look again.
  FOR v_attempt IN 1..10 LOOP
    BEGIN
      SELECT oid INTO v_role FROM pg_roles WHERE rolname = 'ct_portal_owner';
      IF v_role IS NULL THEN
        CREATE ROLE ct_portal_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
        SELECT oid INTO v_role FROM pg_roles WHERE rolname = 'ct_portal_owner';
      ELSIF EXISTS (SELECT FROM pg_roles WHERE oid = v_role AND (rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole
                                                                 OR rolinherit OR rolreplication OR rolbypassrls)) THEN
        ALTER ROLE ct_portal_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
      END IF;
      -- It holds no other role's rights.
      FOR v_member IN SELECT roleid FROM pg_auth_members WHERE member = v_role LOOP
        EXECUTE format('REVOKE %I FROM ct_portal_owner', pg_get_userbyid(v_member));
      END LOOP;
      -- Giving a view to a role takes membership in it (a superuser needs none).
      IF NOT pg_has_role(current_user, v_role, 'MEMBER') THEN
        EXECUTE format('GRANT ct_portal_owner TO %I', current_user);
      END IF;
      EXIT;
    EXCEPTION WHEN duplicate_object OR unique_violation OR internal_error THEN
      IF v_attempt = 10 OR (SQLSTATE = 'XX000' AND SQLERRM <> 'tuple concurrently updated') THEN
        RAISE;
      END IF;
    END;
  END LOOP;

  FOR i IN 1..array_length(v_columns, 1) LOOP
    v_table := 'public.' || v_columns[i][1];
    v_column := v_columns[i][2];
    IF NOT has_column_privilege('ct_portal_owner', v_table, v_column, 'SELECT') THEN
      EXECUTE format('GRANT SELECT (%I) ON %s TO ct_portal_owner', v_column, v_table);
    END IF;
  END LOOP;
  IF NOT has_table_privilege('ct_portal_owner', 'portal.client_roles', 'SELECT') THEN
    GRANT SELECT ON portal.client_roles TO ct_portal_owner;
  END IF;

  -- A new owner must hold CREATE on the view's schema; it keeps it only for the change.
  FOR v_view IN
    SELECT c.oid::regclass FROM pg_class c
    WHERE c.relnamespace = 'portal'::regnamespace AND c.relkind IN ('v', 'm') AND c.relowner <> v_role
  LOOP
    GRANT CREATE ON SCHEMA portal TO ct_portal_owner;
    EXECUTE format('ALTER VIEW %s OWNER TO ct_portal_owner', v_view);
  END LOOP;
  IF has_schema_privilege('ct_portal_owner', 'portal', 'CREATE') THEN
    REVOKE CREATE ON SCHEMA portal FROM ct_portal_owner;
  END IF;
  IF NOT has_schema_privilege('ct_portal_owner', 'portal', 'USAGE') THEN
    GRANT USAGE ON SCHEMA portal TO ct_portal_owner;
  END IF;

  -- Row-level security must be on for every table a portal view reads, and no view may run with
  -- its caller's rights.
  FOREACH v_table IN ARRAY ARRAY['clients', 'activity_events', 'invoices', 'automations'] LOOP
    IF NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = ('public.' || v_table)::regclass AND c.relrowsecurity) THEN
      RAISE EXCEPTION 'row-level security is off on public.%: the client portal would show every client''s rows', v_table
        USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'ALTER TABLE public.' || v_table || ' ENABLE ROW LEVEL SECURITY';
    END IF;
  END LOOP;
  FOR v_view IN
    SELECT c.oid::regclass FROM pg_class c
    WHERE c.relnamespace = 'portal'::regnamespace AND c.relkind = 'v'
      AND (coalesce(c.reloptions, '{}') && ARRAY['security_invoker=true', 'security_invoker=on']
           OR NOT coalesce(c.reloptions, '{}') && ARRAY['security_barrier=true', 'security_barrier=on'])
  LOOP
    RAISE EXCEPTION 'portal view % must be a security_barrier view without security_invoker', v_view
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END LOOP;
END
$$;

-- Creates or repairs the role of the client `p_slug` of this database, maps it to the client and
-- grants it SELECT on the views of `portal` and nothing else. Returns the role's name. Idempotent,
-- and safe against the same role being created by another database of the cluster at the same
-- moment. No password is set here (setClientRolePassword sets a SCRAM verifier).
CREATE FUNCTION ct_portal_client_role(p_slug text) RETURNS name
LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
  v_client uuid;
  v_name name;
  v_role oid;
  v_member oid;
  v_view regclass;
  v_attempt int;
  v_setting text;
BEGIN
  IF p_slug !~ '^[a-z0-9-]{2,40}$' THEN
    RAISE EXCEPTION 'not a client slug: %', p_slug USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT id INTO v_client FROM public.clients WHERE slug = p_slug;
  IF v_client IS NULL THEN
    RAISE EXCEPTION 'no client with slug "%" in this database', p_slug USING ERRCODE = 'no_data_found';
  END IF;
  v_name := 'ct_portal_' || replace(p_slug, '-', '_');

  CALL ct_portal_grants();

  FOR v_attempt IN 1..10 LOOP
    BEGIN
      SELECT oid INTO v_role FROM pg_roles WHERE rolname = v_name;
      IF v_role IS NULL THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 10', v_name);
        SELECT oid INTO v_role FROM pg_roles WHERE rolname = v_name;
      ELSIF EXISTS (SELECT FROM pg_roles WHERE oid = v_role AND (NOT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole
                                                                 OR rolinherit OR rolreplication OR rolbypassrls
                                                                 OR rolconnlimit <> 10)) THEN
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 10', v_name);
      END IF;
      -- A member of another role could SET ROLE to it: it is a member of none.
      FOR v_member IN SELECT roleid FROM pg_auth_members WHERE member = v_role LOOP
        EXECUTE format('REVOKE %I FROM %I', pg_get_userbyid(v_member), v_name);
      END LOOP;
      -- Defaults for its sessions, like ct_dashboard_reader's: read-only, a panel query stops
      -- after 15 s, an idle transaction is ended. (A session may change its own settings: these
      -- are defaults, the privileges above are the protection.)
      FOREACH v_setting IN ARRAY ARRAY['default_transaction_read_only=on', 'statement_timeout=15s',
                                       'idle_in_transaction_session_timeout=1min'] LOOP
        IF NOT EXISTS (SELECT FROM pg_db_role_setting s WHERE s.setrole = v_role AND s.setdatabase = 0
                                                          AND v_setting = ANY (s.setconfig)) THEN
          EXECUTE format('ALTER ROLE %I SET %s = %L', v_name, split_part(v_setting, '=', 1), split_part(v_setting, '=', 2));
        END IF;
      END LOOP;

      INSERT INTO portal.client_roles (role, client_id) VALUES (v_name, v_client)
      ON CONFLICT (client_id) DO UPDATE SET role = EXCLUDED.role WHERE portal.client_roles.role <> EXCLUDED.role;

      IF NOT has_schema_privilege(v_name, 'portal', 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA portal TO %I', v_name);
      END IF;
      FOR v_view IN
        SELECT c.oid::regclass FROM pg_class c
        WHERE c.relnamespace = 'portal'::regnamespace AND c.relkind IN ('v', 'm')
          AND NOT has_table_privilege(v_name, c.oid, 'SELECT')
      LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', v_view, v_name);
      END LOOP;
      RETURN v_name;
    EXCEPTION WHEN duplicate_object OR unique_violation OR undefined_object OR internal_error THEN
      IF v_attempt = 10 OR (SQLSTATE = 'XX000' AND SQLERRM <> 'tuple concurrently updated') THEN
        RAISE;
      END IF;
    END;
  END LOOP;
  RETURN v_name;
END
$$;

-- Offboarding: ends the client role's access to this database (its map row, its grants, its
-- sessions here) and drops the role. Returns 'dropped', 'absent' (no such role), or 'kept' when
-- another database of the cluster still grants it something (the role then has no right here).
CREATE FUNCTION ct_portal_drop_client_role(p_slug text) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
  v_name name;
  v_view regclass;
  v_pid int;
BEGIN
  IF p_slug !~ '^[a-z0-9-]{2,40}$' THEN
    RAISE EXCEPTION 'not a client slug: %', p_slug USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_name := 'ct_portal_' || replace(p_slug, '-', '_');
  DELETE FROM portal.client_roles WHERE role = v_name;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = v_name) THEN
    RETURN 'absent';
  END IF;
  FOR v_view IN
    SELECT c.oid::regclass FROM pg_class c
    WHERE c.relnamespace = 'portal'::regnamespace AND has_table_privilege(v_name, c.oid, 'SELECT')
  LOOP
    EXECUTE format('REVOKE ALL ON %s FROM %I', v_view, v_name);
  END LOOP;
  IF has_schema_privilege(v_name, 'portal', 'USAGE') THEN
    EXECUTE format('REVOKE ALL ON SCHEMA portal FROM %I', v_name);
  END IF;
  -- Its open sessions here end now (ending another role's session takes a superuser, or
  -- pg_signal_backend; without either they see nothing from the commit on: their map row is gone).
  FOR v_pid IN SELECT pid FROM pg_stat_activity WHERE usename = v_name AND datname = current_database() LOOP
    BEGIN
      PERFORM pg_terminate_backend(v_pid);
    EXCEPTION WHEN insufficient_privilege THEN
      NULL;
    END;
  END LOOP;
  BEGIN
    EXECUTE format('DROP ROLE %I', v_name);
    RETURN 'dropped';
  EXCEPTION WHEN dependent_objects_still_exist THEN
    RETURN 'kept';
  END;
END
$$;

-- The platform's routines are for its own role only (014 revokes PUBLIC's EXECUTE by default; say it again).
REVOKE EXECUTE ON PROCEDURE ct_portal_grants() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ct_portal_client_role(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ct_portal_drop_client_role(text) FROM PUBLIC;

CALL ct_portal_grants();
