-- ct_app encrypts and decrypts client secrets. Every service that handles them connects as ct_app
-- (017): the API (a new client's webhook secret, verifying webhooks, rotations), portal tokens and
-- the org sync, and `ct client onboard`, which also puts a client's webhook secret in n8n. The
-- master key is passed on each call (006) and never stored, so the right to call these functions
-- gives nothing without it. ct_encrypt_secret and ct_decrypt_secret run as their caller and call
-- pgcrypto's functions, which migration 014 took from PUBLIC: ct_app needs both levels.
INSERT INTO app_role_grants (object_type, object_name, privileges, reason) VALUES
  ('function', 'public.ct_encrypt_secret(text,text)', '{EXECUTE}', 'client secrets and portal tokens are stored encrypted (api, portal tokens, ct client onboard)'),
  ('function', 'public.ct_decrypt_secret(bytea,text)', '{EXECUTE}', 'webhook verification, org sync and ct client onboard read client secrets with the master key'),
  ('function', 'public.pgp_sym_encrypt(text,text,text)', '{EXECUTE}', 'called by ct_encrypt_secret, which runs as its caller'),
  ('function', 'public.pgp_sym_decrypt(bytea,text)', '{EXECUTE}', 'called by ct_decrypt_secret, which runs as its caller')
ON CONFLICT (object_type, object_name) DO NOTHING;
