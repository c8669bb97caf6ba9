-- The kind of an activity event is chosen by the client's workflow (`type`, up to 64 characters),
-- and each (client, kind) is a series of ct_client_activity_events_total: a workflow that sends
-- "order.<id>" would add one for good per order. A client's first 50 kinds are counted under
-- their names, events of any further kind under "other"; the events themselves keep their kind.
CREATE OR REPLACE FUNCTION client_activity_counts_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  WITH batch AS (
    SELECT client_id, kind, count(*) AS events, max(occurred_at) AS last_at FROM new_events GROUP BY 1, 2
  ), known AS (
    SELECT b.*,
           EXISTS (SELECT 1 FROM client_activity_counts k WHERE k.client_id = b.client_id AND k.kind = b.kind) AS seen,
           (SELECT count(*) FROM client_activity_counts k WHERE k.client_id = b.client_id AND k.kind <> 'other') AS have
    FROM batch b
  ), ranked AS (
    -- New kinds of one statement are admitted in name order until the client has 50.
    SELECT known.*, row_number() OVER (PARTITION BY client_id, seen ORDER BY kind) AS new_rank FROM known
  )
  INSERT INTO client_activity_counts AS c (client_id, kind, events, last_occurred_at)
  SELECT client_id, CASE WHEN seen OR have + new_rank <= 50 THEN kind ELSE 'other' END, sum(events), max(last_at)
  FROM ranked
  GROUP BY 1, 2
  -- A fixed order keeps two concurrent bulk inserts from deadlocking on the counter rows.
  ORDER BY 1, 2
  ON CONFLICT (client_id, kind) DO UPDATE
    SET events = c.events + EXCLUDED.events,
        last_occurred_at = greatest(c.last_occurred_at, EXCLUDED.last_occurred_at);
  RETURN NULL;
END
$$;
