-- Append-only, hash-chained audit log. Every state-changing action writes one row in the same
-- transaction as the change. Each row's hash covers the previous row's hash and the row's own
-- canonical content, and is computed here, in the database, under a lock, so concurrent writers
-- cannot fork the chain and the application cannot forge a hash.

CREATE SEQUENCE audit_logs_id_seq AS bigint;

CREATE TABLE audit_logs (
  -- Assigned by the chain trigger after it takes the chain lock, so id order is chain order.
  id          bigint PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL CONSTRAINT audit_logs_actor_length CHECK (length(actor) BETWEEN 1 AND 200),
  actor_type  text NOT NULL DEFAULT 'system'
              CONSTRAINT audit_logs_actor_type_valid CHECK (actor_type IN ('user', 'api_key', 'system', 'grafana')),
  action      text NOT NULL CONSTRAINT audit_logs_action_format CHECK (action ~ '^[a-z][a-z0-9_.:-]{1,99}$'),
  target_type text,
  target_id   text,
  client_id   uuid REFERENCES clients (id) ON DELETE RESTRICT,
  outcome     text NOT NULL
              CONSTRAINT audit_logs_outcome_valid CHECK (outcome IN ('success', 'failure', 'denied', 'partial')),
  details     jsonb NOT NULL DEFAULT '{}'::jsonb,
  source_ip   inet,
  request_id  text,
  prev_hash   text NOT NULL,
  hash        text NOT NULL
);

ALTER SEQUENCE audit_logs_id_seq OWNED BY audit_logs.id;

CREATE INDEX audit_logs_at_idx ON audit_logs (at);
CREATE INDEX audit_logs_client_idx ON audit_logs (client_id, at);
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor, at);
CREATE INDEX audit_logs_action_idx ON audit_logs (action, at);

-- The chain's head, kept by the trigger: lets verification notice a removed last row.
CREATE TABLE audit_chain_head (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_id   bigint NOT NULL,
  last_hash text NOT NULL
);

-- The hash of the first row's predecessor.
CREATE FUNCTION audit_genesis_hash() RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT repeat('0', 64) $$;

-- Canonical content of a row: a JSON object with a fixed key set, timestamps rendered in UTC
-- with microseconds, so the hash does not depend on the session's TimeZone or DateStyle.
CREATE FUNCTION audit_row_hash(
  p_prev_hash text, p_id bigint, p_at timestamptz, p_actor text, p_actor_type text, p_action text,
  p_target_type text, p_target_id text, p_client_id uuid, p_outcome text, p_details jsonb,
  p_source_ip inet, p_request_id text
) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(
    p_prev_hash || '|' || jsonb_build_object(
      'id', p_id,
      'at', to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
      'actor', p_actor,
      'actor_type', p_actor_type,
      'action', p_action,
      'target_type', p_target_type,
      'target_id', p_target_id,
      'client_id', p_client_id,
      'outcome', p_outcome,
      'details', p_details,
      'source_ip', host(p_source_ip),
      'request_id', p_request_id
    )::text, 'UTF8')), 'hex')
$$;

CREATE FUNCTION audit_logs_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_prev text;
BEGIN
  -- Serialise writers until commit: the next writer reads this row's hash only once it is visible.
  PERFORM pg_advisory_xact_lock(hashtext('ct.audit_logs.chain'));
  NEW.id := nextval('audit_logs_id_seq');
  NEW.at := clock_timestamp();
  SELECT last_hash INTO v_prev FROM audit_chain_head;
  v_prev := coalesce(v_prev, audit_genesis_hash());
  NEW.prev_hash := v_prev;
  NEW.hash := audit_row_hash(v_prev, NEW.id, NEW.at, NEW.actor, NEW.actor_type, NEW.action,
    NEW.target_type, NEW.target_id, NEW.client_id, NEW.outcome, NEW.details, NEW.source_ip, NEW.request_id);
  INSERT INTO audit_chain_head (singleton, last_id, last_hash) VALUES (true, NEW.id, NEW.hash)
    ON CONFLICT (singleton) DO UPDATE SET last_id = EXCLUDED.last_id, last_hash = EXCLUDED.last_hash;
  RETURN NEW;
END
$$;

CREATE TRIGGER audit_logs_chain BEFORE INSERT ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION audit_logs_chain();

CREATE FUNCTION audit_logs_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION audit_logs_reject_change();
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
  FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_reject_change();
-- The head moves only through the chain trigger's upsert; direct deletes are refused.
CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
  FOR EACH ROW EXECUTE FUNCTION audit_logs_reject_change();
CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
  FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_reject_change();

-- Walks the chain in id order and reports the first row that does not fit: a changed row (its
-- hash no longer matches its content), a removed row (the next row's prev_hash points at
-- nothing), or a removed tail (the head remembers a later row).
CREATE FUNCTION audit_chain_verify(
  OUT ok boolean, OUT rows_checked bigint, OUT first_bad_id bigint, OUT reason text
)
LANGUAGE plpgsql STABLE AS $$
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
  END IF;
END
$$;
