-- Client activity and the aggregates the exporters and the API read.

-- Events reported by client workflows (lead captured, invoice sent, ...), through the signed webhook.
CREATE TABLE activity_events (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  client_id       uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  kind            text NOT NULL CONSTRAINT activity_events_kind_format CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,63}$'),
  occurred_at     timestamptz NOT NULL,
  received_at     timestamptz NOT NULL DEFAULT now(),
  details         jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- A retried delivery carries the same key and is stored once.
  idempotency_key text NOT NULL UNIQUE
                  CONSTRAINT activity_events_idempotency_key_length CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  source          text NOT NULL DEFAULT 'webhook'
                  CONSTRAINT activity_events_source_length CHECK (length(source) BETWEEN 1 AND 64)
);

CREATE INDEX activity_events_client_time_idx ON activity_events (client_id, occurred_at);

-- One row per client and day (the client's own time zone is applied by whoever writes it).
CREATE TABLE client_daily_stats (
  client_id     uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  day           date NOT NULL,
  workflow_runs integer NOT NULL DEFAULT 0 CONSTRAINT client_daily_stats_runs_nonnegative CHECK (workflow_runs >= 0),
  failures      integer NOT NULL DEFAULT 0 CONSTRAINT client_daily_stats_failures_nonnegative CHECK (failures >= 0),
  minutes_saved numeric(14, 2) NOT NULL DEFAULT 0
                CONSTRAINT client_daily_stats_minutes_nonnegative CHECK (minutes_saved >= 0),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (client_id, day),
  CONSTRAINT client_daily_stats_failures_within_runs CHECK (failures <= workflow_runs)
);

-- Where incremental ingestion of finished n8n executions stopped, per n8n instance.
CREATE TABLE workflow_execution_cursor (
  n8n_instance      text PRIMARY KEY,
  last_execution_id bigint NOT NULL DEFAULT 0,
  updated_at        timestamptz NOT NULL DEFAULT now()
);
