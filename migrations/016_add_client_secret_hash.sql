-- A client's portal token (client_secrets kind `portal_token`) is checked on every request to the
-- tenant proxy. It is stored encrypted like every client secret (org sync reads it back to put it
-- in the client's Grafana datasource), and also as its SHA-256, so the proxy finds and compares it
-- without the master key and without decrypting anything: the proxy holds no key that could
-- decrypt a secret.

ALTER TABLE client_secrets
  ADD COLUMN secret_hash text
    CONSTRAINT client_secrets_secret_hash_format CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
  ADD CONSTRAINT client_secrets_portal_token_hashed CHECK (kind <> 'portal_token' OR secret_hash IS NOT NULL);

-- One row per token, and the proxy's lookup by hash.
CREATE UNIQUE INDEX client_secrets_secret_hash_idx ON client_secrets (secret_hash) WHERE secret_hash IS NOT NULL;
