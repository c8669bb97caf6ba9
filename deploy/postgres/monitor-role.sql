-- ct_monitor: the role postgres-exporter reads the server's statistics with. Member of pg_monitor
-- (statistics views, settings, sizes) and nothing else: it owns nothing, has no right on the
-- platform's tables, and its sessions are read-only. Idempotent: docker-compose's postgres-roles
-- service runs it as the owner on every start, so the password follows MONITOR_DB_PASSWORD.
--   MONITOR_DB_PASSWORD=... psql -v ON_ERROR_STOP=1 -f deploy/postgres/monitor-role.sql
-- The password is read from the environment (psql 15's \getenv), never from the command line.
\getenv password MONITOR_DB_PASSWORD
\if :{?password}
\else
  \set password ''
\endif
SELECT length(:'password') < 16 AS too_short \gset
\if :too_short
  DO $$ BEGIN RAISE EXCEPTION 'MONITOR_DB_PASSWORD must be set, at least 16 characters (openssl rand -hex 32): ct_monitor was not changed'; END $$;
\endif

SELECT 'CREATE ROLE ct_monitor' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_monitor') \gexec
ALTER ROLE ct_monitor WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT 5;
-- Stored as a SCRAM verifier (password_encryption's default since PostgreSQL 14).
ALTER ROLE ct_monitor WITH PASSWORD :'password';
ALTER ROLE ct_monitor SET default_transaction_read_only = on;
ALTER ROLE ct_monitor SET statement_timeout = '10s';
GRANT pg_monitor TO ct_monitor;
\echo 'ct_monitor is ready (pg_monitor, read-only sessions)'
