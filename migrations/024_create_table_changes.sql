-- A record of the statements that changed the tables the exporters' billing and activity figures
-- come from. The exporters key what they render by a fingerprint of each table
-- (exporters/src/fingerprints.ts); taken from the table's own rows, it read every client, every
-- activity counter, every open invoice and every day of the score's window at each scrape (about
-- 10 ms of PostgreSQL per scrape at 1,000 clients, growing with them). Taken from this record it
-- reads the rows written since the last pruning: a handful when little happens, about two per
-- webhook batch (its events' counters, the clients' last activity) when events flow.
--
-- What the record must get right:
--   * Writers never wait on each other: each statement that changed rows appends one row
--     (statement triggers); nothing is updated in place, so two writers share no row lock, and
--     no order of tables can deadlock.
--   * A change is seen once committed, never before: the row commits or rolls back with the
--     change, and the fingerprint (count, sum and hash of the rows' transaction ids) moves with
--     any committed row.
--   * It stays small without losing a change: ct_prune_table_changes() deletes a table's rows and
--     adds one row of its own transaction in the same statement, so the fingerprint after pruning
--     is one that no reader can have seen before (an empty record would look like an earlier one).
--     ct_app may prune only through it.
--   * A restore is not slowed: pg_restore creates triggers after loading the data.

CREATE TABLE table_changes (
  table_name text NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE table_changes IS 'One row per statement that changed a table the exporters cache figures of (migration 024); pruned by ct_prune_table_changes().';

-- Records a statement that changed rows. A statement that changed none (the webhook batch's touch
-- of clients' last activity when every client was touched less than a second ago, a batch of
-- duplicate events) leaves no row, so it does not make the exporters read the tables again.
CREATE FUNCTION ct_record_table_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF TG_OP <> 'TRUNCATE' THEN
    IF NOT EXISTS (SELECT FROM changed_rows) THEN
      RETURN NULL;
    END IF;
  END IF;
  INSERT INTO public.table_changes (table_name) VALUES (TG_TABLE_NAME);
  RETURN NULL;
END
$$;

-- One trigger per kind of change: a transition table (the rows changed) is for one kind.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['clients', 'client_activity_counts', 'subscriptions', 'invoices',
                           'client_daily_stats', 'client_savings', 'client_webhook_failures'] LOOP
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS changed_rows
                      FOR EACH STATEMENT EXECUTE FUNCTION ct_record_table_change()', t || '_record_insert', t);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS changed_rows
                      FOR EACH STATEMENT EXECUTE FUNCTION ct_record_table_change()', t || '_record_update', t);
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS changed_rows
                      FOR EACH STATEMENT EXECUTE FUNCTION ct_record_table_change()', t || '_record_delete', t);
    EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I
                      FOR EACH STATEMENT EXECUTE FUNCTION ct_record_table_change()', t || '_record_truncate', t);
  END LOOP;
END
$$;

-- Forgets a table's recorded changes, leaving one new row in their place; returns how many it
-- deleted. Rows of transactions still running are not visible to it and stay.
CREATE FUNCTION ct_prune_table_changes(p_table text) RETURNS bigint
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
  WITH gone AS (DELETE FROM public.table_changes WHERE table_name = p_table RETURNING 1),
       marker AS (INSERT INTO public.table_changes (table_name) SELECT p_table WHERE EXISTS (SELECT FROM gone))
  SELECT count(*) FROM gone;
$$;

REVOKE EXECUTE ON FUNCTION ct_record_table_change() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ct_prune_table_changes(text) FROM PUBLIC;

INSERT INTO app_role_grants (object_type, object_name, privileges, reason) VALUES
  ('relation', 'public.table_changes', '{SELECT}', 'exporters fingerprint it; written by triggers, pruned by ct_prune_table_changes()'),
  ('function', 'public.ct_prune_table_changes(text)', '{EXECUTE}', 'exporters keep table_changes small');
