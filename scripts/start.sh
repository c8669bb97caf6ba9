#!/usr/bin/env bash
# `npm start`: sets up and runs the platform on this machine: the API, the exporters, the backup
# scheduler, the alert notifier and the tenant proxy, in one process (ct serve all).
#
# Without a DATABASE_URL in the environment it runs the whole platform on the local bench:
# PostgreSQL, Prometheus, Alertmanager, n8n, S3, an SMTP sink and an HTTP sink standing in for
# Twilio (started when not running; CT_BENCH_STATE_DIR chooses another bench state folder than
# .bench/). Prometheus then scrapes every service started, with prometheus.yml's jobs, and loads
# alerting/rules; Alertmanager runs alertmanager.yml's routing with the notifier, the SMTP sink
# and the HTTP sink as receivers; node_exporter, blackbox_exporter and postgres_exporter run where
# Debian's packages are installed; an empty database gets the demo data; a new admin API key is
# printed once; and Grafana starts where grafana-server is installed. The bench keeps running
# when the platform stops (Ctrl-C); `npm run stack:down` stops it.
#
# In production, set the variables of .env.example instead (or use docker-compose.yml).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
state_dir="${CT_BENCH_STATE_DIR:-.bench}"
bench() { npx --no-install tsx test/bench/cli.ts "$@"; }
on_bench=
if [ -z "${DATABASE_URL:-}" ]; then
  on_bench=1
  status=$(bench status 2>/dev/null || true)
  if ! grep -qE 'pid [0-9]+ running$' <<<"$status" || grep -q 'NOT RUNNING' <<<"$status"; then
    bench down >/dev/null
    bench up
  fi
  set -a; . "$state_dir/env"; set +a
fi
npx --no-install ct migrate
if [ -z "$on_bench" ]; then
  npx --no-install ct status
  exec npx --no-install ct serve all
fi

# An empty database gets the demo data set so the admin portal has something to show (a database
# with any client is left as it is). A real deployment is never seeded on its own: `ct demo seed`
# does it on request.
npx --no-install ct demo seed --if-empty || echo "the demo data could not be loaded (above); starting anyway"

# The services' ports (free ones, never the production defaults the bench's neighbours may use),
# Prometheus's and Alertmanager's configuration, and the well-kept exporters.
npx --no-install tsx test/bench/platform.ts configure
set -a; . "$state_dir/platform.env"; set +a

api_key=$(npx --no-install ct apikey create --name "npm-start-$(date -u +%Y%m%dT%H%M%SZ)" --scopes read,write,admin 2>/dev/null)

grafana_line="Grafana      not installed here: grafana-server is not on PATH. Run the whole stack with docker-compose.yml
             (Grafana 12.4 with the provisioning and the ct-admin-app plugin; docs/deployment.md)."
if command -v grafana-server >/dev/null; then
  grafana_line=$(npx --no-install tsx test/bench/grafana.ts start) || grafana_line="Grafana      could not be started (above)"
fi

exporter_lines=""
for e in NODE BLACKBOX POSTGRES; do
  var="BENCH_${e}_EXPORTER"
  [ -n "${!var:-}" ] && exporter_lines+="$(printf '%-12s http://%s/metrics' "${e,,}_exp" "${!var}")"$'\n'
done

cat <<EOF

==================================================================== how to get in
API          http://127.0.0.1:${API_PORT}  (OpenAPI: /api/openapi.json; metrics: http://127.0.0.1:${API_INTERNAL_PORT}/metrics)
admin key    ${api_key}
             shown this once: send it as "Authorization: Bearer <key>" (ct apikey create makes more)
exporters    http://127.0.0.1:${EXPORTER_PORT}/metrics
notifier     http://127.0.0.1:${NOTIFIER_PORT}/healthz
tenant proxy http://127.0.0.1:${TENANT_PROXY_PORT}  (metrics: http://127.0.0.1:${TENANT_PROXY_METRICS_PORT}/metrics)
Prometheus   ${PROMETHEUS_URL}  (targets: /targets, alerts: /alerts)
Alertmanager ${ALERTMANAGER_URL}
n8n          ${N8N_URL}  (login ${N8N_OWNER_EMAIL} / ${N8N_OWNER_PASSWORD})
mail sink    ${SMTP_SINK_URL}/messages  (every mail Alertmanager sends)
Twilio sink  ${SINK_URL}/_sink/requests  (every call and text the notifier places)
PostgreSQL   ${DATABASE_URL}
${exporter_lines}${grafana_line}
the bench's addresses: ${state_dir}/env (set -a; . ${state_dir}/env; set +a); stop it: npm run stack:down
==================================================================================
EOF
exec npx --no-install ct serve all
