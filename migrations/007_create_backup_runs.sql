-- One row per backup, n8n export or restore drill: what the exporter's backup metrics and the
-- force-backup action read.

CREATE TABLE backup_runs (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind        text NOT NULL CONSTRAINT backup_runs_kind_valid CHECK (kind IN ('database', 'n8n', 'drill')),
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  status      text NOT NULL DEFAULT 'running'
              CONSTRAINT backup_runs_status_valid CHECK (status IN ('running', 'succeeded', 'failed')),
  bytes       bigint CONSTRAINT backup_runs_bytes_nonnegative CHECK (bytes >= 0),
  object_key  text,
  error       text,
  details     jsonb NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT backup_runs_finished_when_done CHECK ((status = 'running') = (finished_at IS NULL))
);

CREATE INDEX backup_runs_kind_started_idx ON backup_runs (kind, started_at DESC);
-- Never two runs of a kind at once, even if an advisory lock were bypassed.
CREATE UNIQUE INDEX backup_runs_one_running ON backup_runs (kind) WHERE status = 'running';
