-- The scheduler's hourly comparison of the bucket with backup_runs (backup/src/inventory.ts): how
-- many recorded backups within retention were looked for, how many are missing (deleted outside
-- retention) or replaced (rewritten after their run ended), and the first findings. The exporters
-- report the latest row; BackupObjectsTampered pages on it.

CREATE TABLE backup_inventory_checks (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  checked_at timestamptz NOT NULL DEFAULT now(),
  checked    integer NOT NULL CONSTRAINT backup_inventory_checks_checked_nonnegative CHECK (checked >= 0),
  missing    integer NOT NULL CONSTRAINT backup_inventory_checks_missing_nonnegative CHECK (missing >= 0),
  replaced   integer NOT NULL CONSTRAINT backup_inventory_checks_replaced_nonnegative CHECK (replaced >= 0),
  findings   jsonb NOT NULL DEFAULT '[]'::jsonb CONSTRAINT backup_inventory_checks_findings_array CHECK (jsonb_typeof(findings) = 'array')
);

CREATE INDEX backup_inventory_checks_checked_at_idx ON backup_inventory_checks (checked_at DESC);

INSERT INTO app_role_grants (object_type, object_name, privileges, reason) VALUES
  ('relation', 'public.backup_inventory_checks', '{SELECT,INSERT}', 'the scheduler records each inventory; the exporters read the latest'),
  ('relation', 'public.backup_inventory_checks_id_seq', '{SELECT}', 'pg_dump reads the identity sequence (inserting needs no right on it)');
