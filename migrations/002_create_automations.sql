-- The n8n workflows the agency runs for each client, and what each run is worth (for ROI).

CREATE TABLE automations (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  client_id             uuid NOT NULL REFERENCES clients (id) ON DELETE RESTRICT,
  n8n_workflow_id       text NOT NULL UNIQUE
                        CONSTRAINT automations_workflow_id_length CHECK (length(n8n_workflow_id) BETWEEN 1 AND 64),
  name                  text NOT NULL CONSTRAINT automations_name_length CHECK (length(name) BETWEEN 1 AND 200),
  minutes_saved_per_run numeric(10, 2) NOT NULL DEFAULT 0
                        CONSTRAINT automations_minutes_saved_nonnegative CHECK (minutes_saved_per_run >= 0),
  hourly_value_cents    integer NOT NULL DEFAULT 0
                        CONSTRAINT automations_hourly_value_nonnegative CHECK (hourly_value_cents >= 0),
  currency              char(3) NOT NULL DEFAULT 'USD'
                        CONSTRAINT automations_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
  enabled               boolean NOT NULL DEFAULT true,
  created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX automations_client_idx ON automations (client_id);
