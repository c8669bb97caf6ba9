-- Sessions of admin users, the per-account login throttle.
--
-- A session starts at a password login and ends at its absolute lifetime (API_SESSION_MAX_AGE),
-- at logout, when an operator revokes the user's sessions, disables the user or resets the
-- password, or when one of its refresh tokens is presented a second time (reuse: the token was
-- stolen, or the client that rotated it was; the whole family of tokens dies). Every refresh
-- token belongs to one session; access tokens name their session (claim `sid`) and the API
-- re-checks it, so an ended session stops its access tokens too, within API_SESSION_CHECK_INTERVAL.

CREATE TABLE auth_sessions (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
  started_at   timestamptz NOT NULL DEFAULT now(),
  -- The absolute end: no refresh extends a session past it.
  expires_at   timestamptz NOT NULL,
  ended_at     timestamptz,
  ended_reason text CONSTRAINT auth_sessions_ended_reason CHECK (
    ended_reason IN ('logout', 'refresh_token_reuse', 'sessions_revoked', 'user_disabled', 'password_reset')
  ),
  CONSTRAINT auth_sessions_expiry_after_start CHECK (expires_at > started_at),
  CONSTRAINT auth_sessions_ended_with_reason CHECK ((ended_at IS NULL) = (ended_reason IS NULL))
);

CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id) WHERE ended_at IS NULL;

-- Refresh tokens issued before sessions existed belong to none: they are dropped, and their
-- users log in once more.
DELETE FROM refresh_tokens;
ALTER TABLE refresh_tokens
  ADD COLUMN session_id uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
  -- Set when the token was exchanged for the next one: presenting it again is reuse.
  ADD COLUMN used_at timestamptz;
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Consecutive failed logins per account name (the email as typed, lower-cased), known or not:
-- unknown accounts are throttled exactly like real ones, so the answers tell nothing apart.
-- A row is forgotten after a success, and pruned a day after its last failure.
CREATE TABLE login_throttle (
  account         text PRIMARY KEY CONSTRAINT login_throttle_account_length CHECK (length(account) BETWEEN 1 AND 320),
  failures        integer NOT NULL CONSTRAINT login_throttle_failures_positive CHECK (failures > 0),
  last_failure_at timestamptz NOT NULL,
  locked_until    timestamptz
);

CREATE INDEX login_throttle_last_failure_idx ON login_throttle (last_failure_at);

-- The cost parameters live in each hash (scrypt$N$r$p$salt$hash); nothing to migrate here: a
-- hash of an older cost is rewritten at its user's next successful login.

-- What the application role may do with these tables (migration 017's list of grants), unless listed there already.
DO $$
BEGIN
  IF to_regclass('public.app_role_grants') IS NOT NULL THEN
    INSERT INTO app_role_grants (object_type, object_name, privileges, reason) VALUES
      ('relation', 'public.auth_sessions', '{SELECT,INSERT,UPDATE}', 'api sessions: login, refresh, logout, operator revocation'),
      ('relation', 'public.login_throttle', '{SELECT,INSERT,UPDATE,DELETE}', 'api per-account login throttle')
    ON CONFLICT (object_type, object_name) DO NOTHING;
  END IF;
END
$$;
