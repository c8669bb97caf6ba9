-- Results of the scheduled audit chain verification: the exporter reports the latest one as
-- ct_audit_chain_valid, so a scrape never walks the whole chain.

CREATE TABLE audit_verifications (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  ok           boolean NOT NULL,
  rows_checked bigint NOT NULL CONSTRAINT audit_verifications_rows_nonnegative CHECK (rows_checked >= 0),
  first_bad_id bigint,
  reason       text,
  duration_seconds double precision NOT NULL DEFAULT 0
);

CREATE INDEX audit_verifications_at_idx ON audit_verifications (at DESC);
