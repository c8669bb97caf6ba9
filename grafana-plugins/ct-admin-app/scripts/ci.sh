#!/usr/bin/env bash
# The plugin's whole check, as CI runs it (from anywhere):
#   install (its own lockfile) → the API document is current → generated types are current →
#   typecheck → lint → build → jest → the browser suite against the real API and bench.
#
# The browser suite needs the bench (PostgreSQL, n8n, S3): it reads DATABASE_URL, N8N_*, S3_*,
# SECRETS_KEY… from the environment (what the root jest global setup exports), else from the
# repository's .bench/env (npm run stack:up); with neither, it starts a private bench for the run
# and stops it at the end. It also needs the repository built (npm ci && npm run build at the
# root: the suite runs `ct serve api` and `ct serve exporters`) and Debian's chromium.
# CT_ADMIN_APP_SKIP_E2E=1 stops after jest; CT_ADMIN_APP_PRIVATE_BENCH=1 always starts a private bench.
set -euo pipefail

PLUGIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$PLUGIN/../.." && pwd)"
cd "$PLUGIN"
step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "install"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error

step "the API's OpenAPI document is the committed src/api/openapi.json"
"$REPO/node_modules/.bin/tsx" scripts/openapi.ts check

step "src/api/schema.d.ts is generated from it"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npx openapi-typescript src/api/openapi.json -o "$tmp/schema.d.ts" >/dev/null
npx prettier --stdin-filepath src/api/schema.d.ts <"$tmp/schema.d.ts" >"$tmp/schema.pretty.d.ts"
if ! cmp -s "$tmp/schema.pretty.d.ts" src/api/schema.d.ts; then
  echo "src/api/schema.d.ts is stale: run npm run api-types && npx prettier --write src/api/schema.d.ts" >&2
  exit 1
fi

step "typecheck"
npm run --silent typecheck
step "lint"
npm run --silent lint -- --max-warnings=4
npx prettier --check . >/dev/null
step "build"
npm run --silent build | tail -n 3
step "jest"
npx jest --runInBand --ci

if [ "${CT_ADMIN_APP_SKIP_E2E:-}" = "1" ]; then
  step "done (browser suite skipped)"
  exit 0
fi

step "browser suite"
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "chromium is missing: apt-get install -y chromium (never npx playwright install)" >&2
  exit 1
fi
npx webpack -c e2e/harness/webpack.config.js >/dev/null
if [ "${CT_ADMIN_APP_PRIVATE_BENCH:-}" = "1" ] || { [ -z "${DATABASE_URL:-}" ] && [ ! -f "$REPO/.bench/env" ]; }; then
  export CT_BENCH_STATE_DIR="$tmp/bench"
  echo "no bench in the environment or .bench/env: starting a private one"
  (cd "$REPO" && npx tsx test/bench/cli.ts up postgres n8n s3)
  trap '(cd "$REPO" && npx tsx test/bench/cli.ts down) || true; rm -rf "$tmp"' EXIT
  set -a
  # shellcheck disable=SC1091
  . "$CT_BENCH_STATE_DIR/env"
  set +a
  export CT_E2E_IGNORE_BENCH_FILE=1
fi
npx playwright test
step "done"
