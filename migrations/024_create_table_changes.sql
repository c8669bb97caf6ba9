-- A record of the statements that changed the tables the exporters' billing and activity figures
-- come from, for the tables written rarely (billing, execution ingestion). The exporters key what
-- they render by a fingerprint of each table (exporters/src/fingerprints.ts); taken from the
-- table's own rows, it read every open invoice and every day of the score's window at each scrape
-- (about 10 ms of PostgreSQL per scrape at 1,000 clients). Taken from these rows it reads a few.
--
-- What the record must get right:
--   * Writers never wait on each other: each changing statement appends one row (a statement
--     trigger); nothing is updated in place, so two writers share no row lock, and no order of
--     tables can deadlock.
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

CREATE FUNCTION ct_record_table_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  INSERT INTO public.table_changes (table_name) VALUES (TG_TABLE_NAME);
  RETURN NULL;
END
$$;

CREATE TRIGGER subscriptions_record_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON subscriptions
  FOR EACH STATEMENT EXECUTE FUNCTION ct_record_table_change();
CREATE TRIGGER invoices_record_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON invoices
  FOR EACH STATEMENT EXECUTE FUNCTION ct_record_table_change();
CREATE TRIGGER client_daily_stats_record_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON client_daily_stats
  FOR EACH STATEMENT EXECUTE FUNCTION ct_record_table_change();
CREATE TRIGGER client_savings_record_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON client_savings
  FOR EACH STATEMENT EXECUTE FUNCTION ct_record_table_change();
CREATE TRIGGER client_webhook_failures_record_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON client_webhook_failures
  FOR EACH STATEMENT EXECUTE FUNCTION ct_record_table_change();

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
