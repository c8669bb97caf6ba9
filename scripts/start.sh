#!/usr/bin/env bash
# `npm start`: sets up and runs the platform on this machine: the API, the exporters, the backup
# scheduler and the alert notifier, in one process (ct serve all). Without a DATABASE_URL in the
# environment it first starts the local bench (PostgreSQL, Prometheus, Alertmanager, n8n, S3, SMTP
# and an HTTP sink standing in for Twilio) and runs against it; in production, set the variables
# of .env.example instead (or use docker-compose.yml).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
if [ -z "${DATABASE_URL:-}" ]; then
  bench=$(npx --no-install tsx test/bench/cli.ts status 2>/dev/null || true)
  if ! grep -qE 'pid [0-9]+ running$' <<<"$bench" || grep -q 'NOT RUNNING' <<<"$bench"; then
    npx --no-install tsx test/bench/cli.ts down >/dev/null
    npx --no-install tsx test/bench/cli.ts up
  fi
  set -a; . .bench/env; set +a
fi
npx --no-install ct migrate
if [ -n "${CT_BENCH_DIR:-}" ]; then
  # On the local bench, an empty database gets the demo data set so the admin portal has
  # something to show (a database with any client is left as it is). A real deployment is never
  # seeded on its own: `ct demo seed` does it on request.
  npx --no-install ct demo seed --if-empty || echo "the demo data could not be loaded (above); starting anyway"
fi
npx --no-install ct status
echo "starting: API on :${API_PORT:-8080} (/api/openapi.json), exporters on :${EXPORTER_PORT:-9464}/metrics, notifier on :${NOTIFIER_PORT:-9465}, scheduler"
exec npx --no-install ct serve all
