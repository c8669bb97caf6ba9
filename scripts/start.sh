#!/usr/bin/env bash
# `npm start`: sets up and runs the platform on this machine. Without a DATABASE_URL in the
# environment it starts the local bench (PostgreSQL, Prometheus, Alertmanager, n8n, S3, SMTP)
# and runs against it; in production, set the variables of .env.example instead.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
if [ -z "${DATABASE_URL:-}" ]; then
  if [ ! -f .bench/env ] || ! npx --no-install tsx test/bench/cli.ts status | grep -q running; then
    npx --no-install tsx test/bench/cli.ts down >/dev/null
    npx --no-install tsx test/bench/cli.ts up
  fi
  set -a; . .bench/env; set +a
fi
npx --no-install ct migrate
exec npx --no-install ct status
