-- Counters the exporter reports, kept up to date incrementally so that a scrape reads a few
-- thousand summary rows however many executions and activity events exist, and so that the
-- counters survive restarts of the exporter and of n8n (whose own counters reset).

-- Ingestion cursor (see exporters/src/ingest.ts). last_execution_id is the watermark: every
-- finished execution with an id at or below it has been counted. Executions above it that were
-- already counted (they finished while a lower id was still running) are remembered in
-- n8n_ingested_executions. last_seen_execution_id is the highest id seen by the previous pass:
-- the watermark never moves past it, so an execution whose id was allocated but not yet visible
-- to one pass is still picked up by the next.
ALTER TABLE workflow_execution_cursor
  ADD COLUMN last_seen_execution_id bigint NOT NULL DEFAULT 0;

CREATE TABLE n8n_ingested_executions (
  n8n_instance text NOT NULL REFERENCES workflow_execution_cursor (n8n_instance) ON DELETE CASCADE,
  execution_id bigint NOT NULL,
  PRIMARY KEY (n8n_instance, execution_id)
);

-- Finished executions per workflow and final status. Never decremented.
CREATE TABLE workflow_execution_counts (
  n8n_instance       text NOT NULL,
  n8n_workflow_id    text NOT NULL CONSTRAINT workflow_execution_counts_workflow_id_length CHECK (length(n8n_workflow_id) BETWEEN 1 AND 64),
  status             text NOT NULL
                     CONSTRAINT workflow_execution_counts_status_valid CHECK (status IN ('success', 'error', 'canceled', 'crashed')),
  executions         bigint NOT NULL DEFAULT 0 CONSTRAINT workflow_execution_counts_nonnegative CHECK (executions >= 0),
  -- Of those, executions of a workflow whose trigger is a Webhook node (at ingestion time).
  webhook_executions bigint NOT NULL DEFAULT 0
                     CONSTRAINT workflow_execution_counts_webhook_within CHECK (webhook_executions BETWEEN 0 AND executions),
  last_stopped_at    timestamptz,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (n8n_instance, n8n_workflow_id, status)
);

-- Time and money saved by each client's successful executions, valued with the automation's
-- settings when each execution was ingested (a later change of minutes_saved_per_run does not
-- rewrite history), and attributed to the client that owned the workflow then.
CREATE TABLE client_savings (
  client_id     uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  currency      char(3) NOT NULL CONSTRAINT client_savings_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
  runs          bigint NOT NULL DEFAULT 0 CONSTRAINT client_savings_runs_nonnegative CHECK (runs >= 0),
  minutes_saved numeric(20, 2) NOT NULL DEFAULT 0 CONSTRAINT client_savings_minutes_nonnegative CHECK (minutes_saved >= 0),
  value_cents   numeric(24, 4) NOT NULL DEFAULT 0 CONSTRAINT client_savings_value_nonnegative CHECK (value_cents >= 0),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (client_id, currency)
);

-- Failed deliveries of each client's n8n webhooks: executions of its Webhook-triggered workflows
-- that ended in error or crashed.
CREATE TABLE client_webhook_failures (
  client_id  uuid PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
  failures   bigint NOT NULL DEFAULT 0 CONSTRAINT client_webhook_failures_nonnegative CHECK (failures >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Activity events per client and kind, maintained by a trigger on activity_events so a scrape
-- never counts the events table. Deleting events does not decrement (a counter only grows).
CREATE TABLE client_activity_counts (
  client_id        uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  kind             text NOT NULL,
  events           bigint NOT NULL DEFAULT 0 CONSTRAINT client_activity_counts_nonnegative CHECK (events >= 0),
  last_occurred_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, kind)
);

-- Statement-level, so a bulk insert updates each (client, kind) row once, not once per event.
CREATE FUNCTION client_activity_counts_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO client_activity_counts AS c (client_id, kind, events, last_occurred_at)
  SELECT client_id, kind, count(*), max(occurred_at) FROM new_events GROUP BY client_id, kind
  -- A fixed order keeps two concurrent bulk inserts from deadlocking on the counter rows.
  ORDER BY client_id, kind
  ON CONFLICT (client_id, kind) DO UPDATE
    SET events = c.events + EXCLUDED.events,
        last_occurred_at = greatest(c.last_occurred_at, EXCLUDED.last_occurred_at);
  RETURN NULL;
END
$$;

CREATE TRIGGER activity_events_count AFTER INSERT ON activity_events
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION client_activity_counts_add();

-- Events stored before this migration.
INSERT INTO client_activity_counts (client_id, kind, events, last_occurred_at)
SELECT client_id, kind, count(*), max(occurred_at) FROM activity_events GROUP BY client_id, kind;

-- The calendar day of a moment in a client's time zone; an unknown zone name falls back to UTC
-- rather than failing the ingestion of every client's executions.
CREATE FUNCTION ct_local_date(p_at timestamptz, p_timezone text) RETURNS date
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (p_at AT TIME ZONE p_timezone)::date;
EXCEPTION WHEN invalid_parameter_value THEN
  RETURN (p_at AT TIME ZONE 'UTC')::date;
END
$$;
