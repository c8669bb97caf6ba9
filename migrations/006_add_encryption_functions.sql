-- Encryption of client secrets with pgcrypto. The application passes the master key on every
-- call; it is never stored in a table, a setting or this file. (Keep log_statement and
-- log_min_duration_statement from logging parameters on this database: see docs/deployment.md.)

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- OpenPGP symmetric encryption (AES-256, integrity-protected with a modification detection code).
CREATE FUNCTION ct_encrypt_secret(p_plaintext text, p_key text) RETURNS bytea
LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
  IF length(p_key) < 32 THEN
    RAISE EXCEPTION 'encryption key must be at least 32 characters' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN pgp_sym_encrypt(p_plaintext, p_key, 'cipher-algo=aes256, compress-algo=0, s2k-mode=3');
END
$$;

-- A wrong key or altered ciphertext raises a clear error instead of returning garbage.
CREATE FUNCTION ct_decrypt_secret(p_ciphertext bytea, p_key text) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
  RETURN pgp_sym_decrypt(p_ciphertext, p_key);
EXCEPTION WHEN external_routine_invocation_exception OR data_exception THEN
  RAISE EXCEPTION 'cannot decrypt secret: wrong key or corrupted ciphertext'
    USING ERRCODE = 'invalid_password';
END
$$;

-- API keys are long random strings, so a fast hash is enough to make a stolen table useless;
-- a slow password hash would only slow down every request.
CREATE FUNCTION ct_hash_api_key(p_key text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT encode(digest(p_key, 'sha256'), 'hex')
$$;
