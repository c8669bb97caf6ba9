-- The services' own role, `ct_app`, and an audit log its holder cannot rewrite.
--
-- Migrations run as the database owner (DATABASE_OWNER_URL); the services connect as ct_app
-- (DATABASE_URL). ct_app owns nothing and holds only the rights listed in `app_role_grants`, which
-- ct_app_grants() applies here and on every `ct migrate` (so a database restored without
-- privileges gets them back). Holding ct_app's password, one cannot:
--   * disable the audit triggers: `session_replication_role` and ALTER TABLE … DISABLE TRIGGER
--     take a superuser or the table's owner;
--   * change or remove audit rows, or truncate any table: audit_logs is INSERT and SELECT only,
--     and no table grants TRUNCATE;
--   * move the chain head: only the chain trigger does, running as the owner (SECURITY DEFINER);
--   * recompute a hash: audit_row_hash() is not executable by ct_app;
--   * record a verification that did not happen: audit_verifications is written only by
--     audit_chain_verify_and_record(), which walks the chain itself;
--   * create, alter or drop roles: client portal roles are made through SECURITY DEFINER
--     functions that only touch `ct_portal_<slug>` of a client of this database.
-- What ct_app can do is written in app_role_grants, one row per object, with the reason.
--
-- Attributes: LOGIN; CREATEDB, because the restore drill restores a backup into a scratch database
-- of its own and drops it (it can drop only databases it created); BYPASSRLS, because row-level
-- security (migration 015) is there to confine the client portal roles, while the platform reads
-- and writes every client's rows and pg_dump refuses a table whose rows a policy would filter.
-- INHERIT: it is a member of no role (ct_app_grants() revokes any membership), and in the
-- scratch database it creates it reaches that database's public schema only through the implicit
-- pg_database_owner, which needs inheritance. Creating a BYPASSRLS role takes a superuser: run migrations as one (the compose file's
-- POSTGRES_USER is).

-- What ct_app may do, object by object. A table, view or sequence with no row here is out of its
-- reach: a migration that creates one adds its row (privileges '{}' for "none, on purpose").
CREATE TABLE app_role_grants (
  object_type text NOT NULL CONSTRAINT app_role_grants_type_valid CHECK (object_type IN ('relation', 'function', 'schema')),
  -- 'public.clients', 'public.ct_local_date(timestamp with time zone,text)', 'portal'
  object_name text NOT NULL,
  privileges  text[] NOT NULL CONSTRAINT app_role_grants_privileges_valid CHECK (
    privileges <@ ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'EXECUTE', 'USAGE']
    AND NOT privileges && ARRAY['TRUNCATE', 'REFERENCES', 'TRIGGER']),
  reason      text NOT NULL CONSTRAINT app_role_grants_reason_length CHECK (length(reason) BETWEEN 1 AND 300),
  PRIMARY KEY (object_type, object_name)
);
COMMENT ON TABLE app_role_grants IS 'What the application role ct_app may do, object by object; ct_app_grants() applies it on every ct migrate.';

INSERT INTO app_role_grants (object_type, object_name, privileges, reason) VALUES
  ('schema', 'portal', '{USAGE}', 'reads portal.client_roles (org sync, backups)'),
  ('relation', 'public.clients', '{SELECT,INSERT,UPDATE}', 'api clients and billing, webhooks (last activity), exporters, org sync, tenant proxy'),
  ('relation', 'public.automations', '{SELECT,INSERT,UPDATE,DELETE}', 'api automations; exporters'),
  ('relation', 'public.activity_events', '{SELECT,INSERT}', 'n8n webhooks store events; exporters read them'),
  ('relation', 'public.client_activity_counts', '{SELECT,INSERT,UPDATE}', 'kept by the activity_events trigger, which runs as the inserting role'),
  ('relation', 'public.client_daily_stats', '{SELECT,INSERT,UPDATE}', 'exporters ingest (upsert); api usage'),
  ('relation', 'public.client_savings', '{SELECT,INSERT,UPDATE}', 'exporters ingest (upsert)'),
  ('relation', 'public.client_webhook_failures', '{SELECT,INSERT,UPDATE}', 'exporters ingest (upsert)'),
  ('relation', 'public.workflow_execution_counts', '{SELECT,INSERT,UPDATE}', 'exporters ingest (upsert)'),
  ('relation', 'public.workflow_execution_cursor', '{SELECT,INSERT,UPDATE}', 'exporters ingest cursor (locked FOR UPDATE)'),
  ('relation', 'public.n8n_ingested_executions', '{SELECT,INSERT,DELETE}', 'exporters ingest: seen executions, pruned'),
  ('relation', 'public.plans', '{SELECT,INSERT,UPDATE}', 'api billing'),
  ('relation', 'public.subscriptions', '{SELECT,INSERT,UPDATE}', 'api billing'),
  ('relation', 'public.invoices', '{SELECT,INSERT,UPDATE}', 'api billing'),
  ('relation', 'public.client_secrets', '{SELECT,INSERT,UPDATE}', 'api secrets, portal tokens (expired, never deleted)'),
  ('relation', 'public.admin_users', '{SELECT,INSERT,UPDATE}', 'api auth and user administration'),
  ('relation', 'public.api_keys', '{SELECT,INSERT,UPDATE}', 'api auth (revocation is an UPDATE)'),
  ('relation', 'public.refresh_tokens', '{SELECT,INSERT,UPDATE,DELETE}', 'api sessions'),
  ('relation', 'public.auth_sessions', '{SELECT,INSERT,UPDATE,DELETE}', 'api sessions'),
  ('relation', 'public.login_throttle', '{SELECT,INSERT,UPDATE,DELETE}', 'api per-account login throttle (forgotten after a success, pruned)'),
  ('relation', 'public.backup_runs', '{SELECT,INSERT,UPDATE}', 'backup runs, api status, exporters'),
  ('relation', 'public.backup_requests', '{SELECT,INSERT,UPDATE}', 'api asks for a backup, the scheduler claims it'),
  ('relation', 'public.audit_logs', '{SELECT,INSERT}', 'append-only: every service writes audit rows, the exporters and the api read them'),
  ('relation', 'public.audit_chain_head', '{SELECT}', 'read only (backup manifests anchor it); the chain trigger moves it'),
  ('relation', 'public.audit_verifications', '{SELECT}', 'read only; written by audit_chain_verify_and_record()'),
  ('relation', 'public.audit_logs_id_seq', '{SELECT}', 'pg_dump reads the sequence; nextval is the chain trigger''s'),
  ('relation', 'public.activity_events_id_seq', '{SELECT}', 'pg_dump reads the identity sequence (inserting needs no right on it)'),
  ('relation', 'public.client_secrets_id_seq', '{SELECT}', 'pg_dump reads the identity sequence'),
  ('relation', 'public.audit_verifications_id_seq', '{SELECT}', 'pg_dump reads the identity sequence'),
  ('relation', 'public.schema_migrations', '{SELECT}', 'ct status, api status and backup manifests read the schema version'),
  ('relation', 'public.app_role_grants', '{SELECT}', 'pg_dump reads every table'),
  ('relation', 'portal.client_roles', '{SELECT}', 'org sync reads the role map; ct_portal_client_role() writes it'),
  ('function', 'public.ct_local_date(timestamp with time zone,text)', '{EXECUTE}', 'exporters ingest: a client''s local day'),
  ('function', 'public.audit_chain_verify()', '{EXECUTE}', 'ct audit verify, ct status, the restore drill'),
  ('function', 'public.audit_chain_verify_and_record(bigint[],text[],text[])', '{EXECUTE}', 'scheduled and quick-action verification'),
  ('function', 'public.ct_portal_client_role(text)', '{EXECUTE}', 'org sync and portal tokens create a client''s role'),
  ('function', 'public.ct_portal_drop_client_role(text)', '{EXECUTE}', 'org sync offboarding'),
  ('function', 'public.ct_portal_set_client_role_password(text,text)', '{EXECUTE}', 'portal tokens set the client role''s password'),
  ('function', 'public.ct_portal_disable_client_role_login(text)', '{EXECUTE}', 'org sync: a kept role of a churned client');

-- ct_app's session locks (backup kinds, restart-stuck, org sync) and the rest of the built-in
-- functions 014 takes from PUBLIC are not listed: ct_app_grants() gives it the advisory-lock ones.

-- Creates ct_app if it is missing, puts its attributes back, and makes its rights in this
-- database exactly what app_role_grants says: every relation of the platform's schemas and every
-- function of `public` is checked; rights not listed are revoked. Rows naming an object that does
-- not exist (yet) are skipped (ct migrate reports them). Each step looks before it writes.
CREATE PROCEDURE ct_app_grants()
LANGUAGE plpgsql AS $$
DECLARE
  v_attempt int;
  v_role oid;
  v_member oid;
  v_rel record;
  v_fn record;
  v_have text[];
  v_want text[];
BEGIN
  -- Roles are cluster-wide and many databases of one cluster may migrate at the same moment; see
  -- ct_dashboard_reader_grants() for the races this loop absorbs.
  FOR v_attempt IN 1..10 LOOP
    BEGIN
      SELECT oid INTO v_role FROM pg_roles WHERE rolname = 'ct_app';
      IF v_role IS NULL THEN
        CREATE ROLE ct_app LOGIN NOSUPERUSER CREATEDB NOCREATEROLE INHERIT NOREPLICATION BYPASSRLS;
        SELECT oid INTO v_role FROM pg_roles WHERE rolname = 'ct_app';
      ELSIF EXISTS (SELECT FROM pg_roles WHERE oid = v_role AND (NOT rolcanlogin OR rolsuper OR NOT rolcreatedb OR rolcreaterole
                                                                 OR NOT rolinherit OR rolreplication OR NOT rolbypassrls)) THEN
        ALTER ROLE ct_app LOGIN NOSUPERUSER CREATEDB NOCREATEROLE INHERIT NOREPLICATION BYPASSRLS;
      END IF;
      -- A member of another role could SET ROLE to it (the owner's, say): it is a member of none.
      FOR v_member IN SELECT roleid FROM pg_auth_members WHERE member = v_role LOOP
        EXECUTE format('REVOKE %I FROM ct_app', pg_get_userbyid(v_member));
      END LOOP;
      EXIT;
    EXCEPTION WHEN duplicate_object OR unique_violation OR internal_error THEN
      IF v_attempt = 10 OR (SQLSTATE = 'XX000' AND SQLERRM <> 'tuple concurrently updated') THEN
        RAISE;
      END IF;
    END;
  END LOOP;

  -- Owning an object would give every right on it: ct_app owns nothing here.
  IF EXISTS (SELECT FROM pg_class WHERE relowner = v_role) OR EXISTS (SELECT FROM pg_proc WHERE proowner = v_role)
     OR EXISTS (SELECT FROM pg_namespace WHERE nspowner = v_role) THEN
    RAISE EXCEPTION 'ct_app owns objects in database %: give them to the owner (REASSIGN OWNED BY ct_app TO ...)', current_database()
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;

  -- Tables, views and sequences of the platform's schemas: exactly the listed rights.
  FOR v_rel IN
    SELECT c.oid, c.relkind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'portal', 'dashboard') AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  LOOP
    v_want := coalesce((SELECT g.privileges FROM app_role_grants g
                         WHERE g.object_type = 'relation' AND to_regclass(g.object_name) = v_rel.oid), '{}');
    v_have := ARRAY(SELECT p FROM unnest(CASE WHEN v_rel.relkind = 'S' THEN ARRAY['SELECT', 'UPDATE', 'USAGE']
                                              ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] END) p
                    WHERE CASE WHEN v_rel.relkind = 'S' THEN has_sequence_privilege(v_role, v_rel.oid, p)
                               ELSE has_table_privilege(v_role, v_rel.oid, p) END);
    IF NOT (v_have @> v_want AND v_have <@ v_want) THEN
      EXECUTE format('REVOKE ALL ON %s FROM ct_app', v_rel.oid::regclass);
      IF cardinality(v_want) > 0 THEN
        EXECUTE format('GRANT %s ON %s TO ct_app', array_to_string(v_want, ', '), v_rel.oid::regclass);
      END IF;
    END IF;
  END LOOP;

  -- Functions of `public` (PUBLIC has no EXECUTE on them, migration 014): the listed ones only.
  FOR v_fn IN
    SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  LOOP
    IF EXISTS (SELECT FROM app_role_grants g WHERE g.object_type = 'function' AND to_regprocedure(g.object_name) = v_fn.oid) THEN
      IF NOT has_function_privilege(v_role, v_fn.oid, 'EXECUTE') THEN
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO ct_app', v_fn.oid::regprocedure);
      END IF;
    ELSIF has_function_privilege(v_role, v_fn.oid, 'EXECUTE') THEN
      EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM ct_app', v_fn.oid::regprocedure);
      IF has_function_privilege(v_role, v_fn.oid, 'EXECUTE') THEN
        RAISE EXCEPTION 'ct_app may still execute %: PUBLIC has EXECUTE on it', v_fn.oid::regprocedure
          USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'CALL ct_dashboard_reader_grants() revokes it';
      END IF;
    END IF;
  END LOOP;

  -- Schemas: USAGE where listed; never CREATE.
  FOR v_rel IN SELECT n.oid, n.nspname FROM pg_namespace n WHERE n.nspname IN ('public', 'portal', 'dashboard') LOOP
    IF has_schema_privilege(v_role, v_rel.oid, 'CREATE') THEN
      EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM ct_app', v_rel.nspname);
    END IF;
    IF EXISTS (SELECT FROM app_role_grants g WHERE g.object_type = 'schema' AND g.object_name = v_rel.nspname AND 'USAGE' = ANY (g.privileges))
       AND NOT has_schema_privilege(v_role, v_rel.oid, 'USAGE') THEN
      EXECUTE format('GRANT USAGE ON SCHEMA %I TO ct_app', v_rel.nspname);
    END IF;
  END LOOP;

  -- Session advisory locks (one backup run of a kind at a time, one restart-stuck, one org sync):
  -- migration 014 takes them from PUBLIC where it can (as a superuser).
  FOR v_fn IN
    SELECT p.oid FROM pg_proc p
    WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname LIKE 'pg\_%advisory\_%'
      AND NOT has_function_privilege(v_role, p.oid, 'EXECUTE')
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO ct_app', v_fn.oid::regprocedure);
  END LOOP;

  -- Objects the owner creates later grant ct_app nothing until a row of app_role_grants says so.
  ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM ct_app;
  ALTER DEFAULT PRIVILEGES REVOKE ALL ON SEQUENCES FROM ct_app;
  ALTER DEFAULT PRIVILEGES REVOKE ALL ON ROUTINES FROM ct_app;
  ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM PUBLIC;
END
$$;
REVOKE EXECUTE ON PROCEDURE ct_app_grants() FROM PUBLIC;

-- The chain trigger runs as the owner: it alone moves the head and computes hashes, whoever inserts.
-- A pinned search_path keeps the inserting role from putting objects of its own in its way.
ALTER FUNCTION audit_logs_chain() SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
REVOKE EXECUTE ON FUNCTION audit_row_hash(text, bigint, timestamptz, text, text, text, text, text, uuid, text, jsonb, inet, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit_genesis_hash() FROM PUBLIC;

-- The walk of migration 003, run as the owner (it needs audit_row_hash, which ct_app may not
-- call), and also returning the last row it verified: the head that can be anchored.
DROP FUNCTION audit_chain_verify();
CREATE FUNCTION audit_chain_verify(
  OUT ok boolean, OUT rows_checked bigint, OUT first_bad_id bigint, OUT reason text, OUT last_id bigint, OUT last_hash text
)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  r audit_logs%ROWTYPE;
  v_prev text := audit_genesis_hash();
  v_last_id bigint;
  v_head audit_chain_head%ROWTYPE;
BEGIN
  ok := true; rows_checked := 0;
  FOR r IN SELECT * FROM audit_logs ORDER BY id LOOP
    IF r.prev_hash <> v_prev THEN
      ok := false; first_bad_id := r.id;
      reason := CASE WHEN rows_checked = 0 AND r.prev_hash <> audit_genesis_hash()
                     THEN 'rows before this one were removed'
                     ELSE 'prev_hash does not match the previous row: a row before it was removed or changed' END;
      RETURN;
    END IF;
    IF r.hash <> audit_row_hash(r.prev_hash, r.id, r.at, r.actor, r.actor_type, r.action,
        r.target_type, r.target_id, r.client_id, r.outcome, r.details, r.source_ip, r.request_id) THEN
      ok := false; first_bad_id := r.id;
      reason := 'content does not match its hash: the row was changed';
      RETURN;
    END IF;
    v_prev := r.hash; v_last_id := r.id; rows_checked := rows_checked + 1;
  END LOOP;
  SELECT * INTO v_head FROM audit_chain_head;
  IF v_head.last_id IS NOT NULL AND (v_last_id IS NULL OR v_head.last_id <> v_last_id OR v_head.last_hash <> v_prev) THEN
    ok := false; first_bad_id := v_head.last_id;
    reason := 'the chain ends before its recorded head: the last rows were removed';
    RETURN;
  END IF;
  last_id := v_last_id;
  last_hash := CASE WHEN v_last_id IS NULL THEN NULL ELSE v_prev END;
END
$$;
REVOKE EXECUTE ON FUNCTION audit_chain_verify() FROM PUBLIC;

-- Anchors: which verifications compared the chain with heads recorded outside the database.
-- anchors_checked is NULL when none were given (a quick action of the API), else how many;
-- contradicted_anchor names the first anchor the chain no longer contains.
ALTER TABLE audit_verifications
  ADD COLUMN anchors_checked integer CONSTRAINT audit_verifications_anchors_nonnegative CHECK (anchors_checked >= 0),
  ADD COLUMN contradicted_anchor text CONSTRAINT audit_verifications_anchor_length CHECK (length(contradicted_anchor) <= 300);

-- The only writer of audit_verifications: walks the chain itself, then checks that it still holds
-- every anchored (id, hash) it is given, and records what it found. A caller can leave anchors
-- out (then anchors_checked is NULL), never make a broken chain verify.
CREATE FUNCTION audit_chain_verify_and_record(
  p_anchor_ids bigint[], p_anchor_hashes text[], p_anchor_names text[],
  OUT ok boolean, OUT rows_checked bigint, OUT first_bad_id bigint, OUT reason text,
  OUT last_id bigint, OUT last_hash text, OUT anchors_checked integer, OUT contradicted_anchor text
)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_started timestamptz := clock_timestamp();
  v_bad record;
BEGIN
  IF p_anchor_ids IS NOT NULL AND (cardinality(p_anchor_ids) <> coalesce(cardinality(p_anchor_hashes), -1)
                                   OR cardinality(p_anchor_ids) <> coalesce(cardinality(p_anchor_names), -1)) THEN
    RAISE EXCEPTION 'anchor ids, hashes and names must be arrays of the same length' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT FROM unnest(p_anchor_hashes) h WHERE h IS NULL OR h !~ '^[0-9a-f]{64}$')
     OR EXISTS (SELECT FROM unnest(p_anchor_ids) i WHERE i IS NULL OR i < 1)
     OR EXISTS (SELECT FROM unnest(p_anchor_names) n WHERE n IS NULL OR length(n) NOT BETWEEN 1 AND 300) THEN
    RAISE EXCEPTION 'an anchor is a row id (>= 1), a 64-hex-digit hash and a name of 1-300 characters' USING ERRCODE = 'invalid_parameter_value';
  END IF;

  SELECT v.ok, v.rows_checked, v.first_bad_id, v.reason, v.last_id, v.last_hash
    INTO ok, rows_checked, first_bad_id, reason, last_id, last_hash FROM audit_chain_verify() v;
  anchors_checked := cardinality(p_anchor_ids);
  IF ok AND p_anchor_ids IS NOT NULL THEN
    -- The first anchor in chain order that the chain no longer holds: its row is gone or has
    -- another hash (the row or one before it was rewritten and the hashes recomputed).
    SELECT a.id, a.hash, a.name, l.hash AS now_hash INTO v_bad
      FROM unnest(p_anchor_ids, p_anchor_hashes, p_anchor_names) WITH ORDINALITY AS a(id, hash, name, n)
      LEFT JOIN audit_logs l ON l.id = a.id
     WHERE l.hash IS DISTINCT FROM a.hash
     ORDER BY a.id, a.n LIMIT 1;
    IF FOUND THEN
      ok := false; first_bad_id := v_bad.id; contradicted_anchor := v_bad.name;
      reason := format('the chain contradicts anchor %s: row %s was anchored with hash %s, %s', v_bad.name, v_bad.id,
                       left(v_bad.hash, 16), CASE WHEN v_bad.now_hash IS NULL THEN 'and the row is gone'
                                                  ELSE format('the database now has %s', left(v_bad.now_hash, 16)) END);
      last_id := NULL; last_hash := NULL;
    END IF;
  END IF;
  IF NOT ok THEN
    last_id := NULL; last_hash := NULL;
  END IF;
  INSERT INTO audit_verifications (ok, rows_checked, first_bad_id, reason, duration_seconds, anchors_checked, contradicted_anchor)
  VALUES (ok, rows_checked, first_bad_id, reason, extract(epoch FROM clock_timestamp() - v_started), anchors_checked, contradicted_anchor);
END
$$;
REVOKE EXECUTE ON FUNCTION audit_chain_verify_and_record(bigint[], text[], text[]) FROM PUBLIC;

-- Client portal roles through the owner's rights, and only those. "owner" is no client's slug:
-- ct_portal_owner is the role that owns the portal views.
ALTER TABLE portal.client_roles ADD CONSTRAINT client_roles_not_view_owner CHECK (role <> 'ct_portal_owner');

ALTER FUNCTION ct_portal_client_role(text) RENAME TO ct_portal_client_role_unchecked;
ALTER FUNCTION ct_portal_drop_client_role(text) RENAME TO ct_portal_drop_client_role_unchecked;
REVOKE EXECUTE ON FUNCTION ct_portal_client_role_unchecked(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ct_portal_drop_client_role_unchecked(text) FROM PUBLIC;

CREATE FUNCTION ct_portal_check_slug(p_slug text) RETURNS name
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF p_slug !~ '^[a-z0-9-]{2,40}$' OR p_slug = 'owner' THEN
    RAISE EXCEPTION 'not a client slug: %', p_slug USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN ('ct_portal_' || replace(p_slug, '-', '_'))::name;
END
$$;
REVOKE EXECUTE ON FUNCTION ct_portal_check_slug(text) FROM PUBLIC;

-- Creates or repairs the role of a client of this database (migration 015).
CREATE FUNCTION ct_portal_client_role(p_slug text) RETURNS name
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  PERFORM ct_portal_check_slug(p_slug);
  RETURN ct_portal_client_role_unchecked(p_slug);
END
$$;

-- Offboarding (migration 015).
CREATE FUNCTION ct_portal_drop_client_role(p_slug text) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  PERFORM ct_portal_check_slug(p_slug);
  RETURN ct_portal_drop_client_role_unchecked(p_slug);
END
$$;

-- Sets the password of a client role of this database from a SCRAM-SHA-256 verifier (never a
-- plaintext password, which would reach the server's statement log).
CREATE FUNCTION ct_portal_set_client_role_password(p_slug text, p_verifier text) RETURNS name
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_name name := ct_portal_check_slug(p_slug);
BEGIN
  IF p_verifier !~ '^SCRAM-SHA-256\$[0-9]{4,7}:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$' THEN
    RAISE EXCEPTION 'not a SCRAM-SHA-256 verifier' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT FROM portal.client_roles m JOIN public.clients c ON c.id = m.client_id
                 WHERE m.role = v_name AND c.slug = p_slug) THEN
    RAISE EXCEPTION 'no portal role for client "%" in this database (ct_portal_client_role makes it)', p_slug
      USING ERRCODE = 'no_data_found';
  END IF;
  EXECUTE format('ALTER ROLE %I PASSWORD %L', v_name, p_verifier);
  RETURN v_name;
END
$$;

-- For a role offboarding had to keep (another database grants it something): no login, no
-- password. Only ever takes rights away. Returns false when it already could not log in.
CREATE FUNCTION ct_portal_disable_client_role_login(p_slug text) RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_name name := ct_portal_check_slug(p_slug);
BEGIN
  IF NOT coalesce((SELECT rolcanlogin FROM pg_roles WHERE rolname = v_name), false) THEN
    RETURN false;
  END IF;
  EXECUTE format('ALTER ROLE %I NOLOGIN PASSWORD NULL', v_name);
  RETURN true;
END
$$;

REVOKE EXECUTE ON FUNCTION ct_portal_client_role(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ct_portal_drop_client_role(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ct_portal_set_client_role_password(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ct_portal_disable_client_role_login(text) FROM PUBLIC;

CALL ct_app_grants();
