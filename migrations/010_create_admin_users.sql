-- Operators who log in to the API with a password (the Grafana plugin and API keys need none),
-- and their refresh tokens. Only hashes are stored: scrypt for passwords, sha256 for tokens
-- (long random strings, like API keys).

CREATE TABLE admin_users (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email         text NOT NULL CONSTRAINT admin_users_email_format CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320 AND email LIKE '%_@_%'),
  password_hash text NOT NULL CONSTRAINT admin_users_password_hash_format CHECK (password_hash LIKE 'scrypt$%'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz,
  disabled_at   timestamptz
);

CREATE UNIQUE INDEX admin_users_email_key ON admin_users (email);

CREATE TABLE refresh_tokens (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id     uuid NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
  token_hash  text NOT NULL UNIQUE CONSTRAINT refresh_tokens_hash_format CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  -- Set on logout and when the token is exchanged for a new one (rotation): a used token is dead.
  revoked_at  timestamptz,
  CONSTRAINT refresh_tokens_expiry_after_creation CHECK (expires_at > created_at)
);

CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
