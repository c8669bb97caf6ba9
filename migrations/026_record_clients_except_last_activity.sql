-- A second record of the changes of clients (migration 024), leaving out the webhook batch's touch
-- of their last activity. While events flow, that touch changes clients between almost every two
-- scrapes (once a second at most per client), so figures keyed by `clients` were read again at
-- nearly every scrape although most of them do not read the last activity: the activity
-- collector's savings and webhook failures read the clients' slugs only. They are keyed by this
-- record instead, under the name `clients_except_last_activity` in table_changes: a statement is
-- recorded when it inserted or deleted clients, truncated the table, or changed a column of a
-- client other than last_activity_at. Figures that read the last activity stay keyed by `clients`,
-- which records every change.

CREATE FUNCTION ct_record_clients_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    -- The rows as they are and as they were, but for their last activity: equal sets, no change
    -- (each row carries its id, so a row changed into another's old values is still seen).
    IF NOT EXISTS (SELECT to_jsonb(n) - 'last_activity_at' FROM new_rows n
                   EXCEPT ALL
                   SELECT to_jsonb(o) - 'last_activity_at' FROM old_rows o) THEN
      RETURN NULL;
    END IF;
  ELSIF TG_OP <> 'TRUNCATE' THEN
    IF NOT EXISTS (SELECT FROM changed_rows) THEN
      RETURN NULL;
    END IF;
  END IF;
  INSERT INTO public.table_changes (table_name) VALUES ('clients_except_last_activity');
  RETURN NULL;
END
$$;

CREATE TRIGGER clients_record_except_last_activity_insert AFTER INSERT ON clients
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION ct_record_clients_change();
CREATE TRIGGER clients_record_except_last_activity_update AFTER UPDATE ON clients
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ct_record_clients_change();
CREATE TRIGGER clients_record_except_last_activity_delete AFTER DELETE ON clients
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION ct_record_clients_change();
CREATE TRIGGER clients_record_except_last_activity_truncate AFTER TRUNCATE ON clients
  FOR EACH STATEMENT EXECUTE FUNCTION ct_record_clients_change();

REVOKE EXECUTE ON FUNCTION ct_record_clients_change() FROM PUBLIC;
