-- "Force a backup" without the keys: the API records a request here and notifies channel
-- `ct_backup_requests`; the backup scheduler, the only service holding the master key and the S3
-- write credentials, claims it and starts the run. The API then reads the run id back from the row.

CREATE TABLE backup_requests (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind         text NOT NULL DEFAULT 'database' CONSTRAINT backup_requests_kind_valid CHECK (kind IN ('database')),
  requested_at timestamptz NOT NULL DEFAULT now(),
  -- Who asked, as the API authenticated them: the run and its audit rows carry this actor.
  actor        text NOT NULL CONSTRAINT backup_requests_actor_length CHECK (length(actor) BETWEEN 1 AND 200),
  actor_type   text NOT NULL CONSTRAINT backup_requests_actor_type_valid CHECK (actor_type IN ('user', 'api_key', 'system', 'grafana')),
  request_id   text,
  -- pending: waiting for a scheduler; started: a scheduler took it (run_id says which run answers
  -- it, possibly one already running); failed: the scheduler could not start a run; expired: nobody
  -- took it in time, and it never will (an operator's click must not start a backup hours later).
  status       text NOT NULL DEFAULT 'pending'
               CONSTRAINT backup_requests_status_valid CHECK (status IN ('pending', 'started', 'failed', 'expired')),
  picked_at    timestamptz,
  run_id       uuid REFERENCES backup_runs (id),
  -- The run answering it was already going when the scheduler took the request.
  already_running boolean NOT NULL DEFAULT false,
  error        text,
  CONSTRAINT backup_requests_started_has_run CHECK ((status = 'started') = (run_id IS NOT NULL))
);

-- Clicks while a request waits join it instead of queueing a second backup.
CREATE UNIQUE INDEX backup_requests_one_pending ON backup_requests (kind) WHERE status = 'pending';
CREATE INDEX backup_requests_requested_idx ON backup_requests (requested_at DESC);
