-- Clients of the agency, their encrypted secrets, and the platform's API keys.

CREATE TABLE clients (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- The slug becomes the `client` label on every metric: short, stable, label-safe.
  slug             text NOT NULL UNIQUE
                   CONSTRAINT clients_slug_format CHECK (slug ~ '^[a-z0-9-]{2,40}$'),
  name             text NOT NULL CONSTRAINT clients_name_length CHECK (length(name) BETWEEN 1 AND 200),
  status           text NOT NULL DEFAULT 'active'
                   CONSTRAINT clients_status_valid CHECK (status IN ('active', 'paused', 'churned')),
  plan             text,
  contact_email    text CONSTRAINT clients_contact_email_length CHECK (length(contact_email) <= 320),
  contact_phone    text CONSTRAINT clients_contact_phone_length CHECK (length(contact_phone) <= 40),
  timezone         text NOT NULL DEFAULT 'UTC',
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_activity_at timestamptz
);

CREATE INDEX clients_status_idx ON clients (status);

CREATE TABLE client_secrets (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  client_id   uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  kind        text NOT NULL CONSTRAINT client_secrets_kind_format CHECK (kind ~ '^[a-z][a-z0-9_]{1,39}$'),
  version     integer NOT NULL CONSTRAINT client_secrets_version_positive CHECK (version > 0),
  ciphertext  bytea NOT NULL,
  -- Which master key encrypted it; the key itself never reaches the database.
  key_id      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- Set on the previous version when a secret is rotated: it stays valid until then.
  expires_at  timestamptz,
  revoked_at  timestamptz,
  UNIQUE (client_id, kind, version)
);

-- At most one current (not superseded, not revoked) version per client and kind.
CREATE UNIQUE INDEX client_secrets_one_current
  ON client_secrets (client_id, kind)
  WHERE expires_at IS NULL AND revoked_at IS NULL;

CREATE TABLE api_keys (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name         text NOT NULL CONSTRAINT api_keys_name_length CHECK (length(name) BETWEEN 1 AND 100),
  -- Public lookup prefix (the first characters of the key); the key itself is never stored.
  prefix       text NOT NULL UNIQUE CONSTRAINT api_keys_prefix_format CHECK (prefix ~ '^[A-Za-z0-9_]{8,32}$'),
  key_hash     text NOT NULL,
  scopes       text[] NOT NULL DEFAULT '{read}'
               CONSTRAINT api_keys_scopes_valid CHECK (scopes <@ ARRAY['read', 'write', 'admin']::text[]),
  owner        text NOT NULL DEFAULT 'system',
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
