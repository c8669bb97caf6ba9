import type { FullConfig } from '@playwright/test';
import { startGrafanaStandIn } from './server/grafana';
import { startStack } from './setup/stack';

/**
 * Starts the platform (API, exporters, Prometheus) on the bench and the Grafana stand-in with the
 * plugin provisioned as an operator would: API URL in jsonData, proxy secret in secureJsonData,
 * and [dataproxy] send_user_header on. Tests read the addresses from the environment.
 */
export default async function globalSetup(_config: FullConfig) {
  const stack = await startStack();
  const grafana = await startGrafanaStandIn({
    port: Number(process.env.CT_E2E_GRAFANA_PORT ?? 0),
    users: [
      { login: 'admin', role: 'Admin' },
      { login: 'editor', role: 'Editor' },
      { login: 'viewer', role: 'Viewer' },
    ],
    settings: { jsonData: { apiUrl: stack.apiUrl }, secureJsonData: { proxySecret: stack.proxySecret } },
    sendUserHeader: true,
  });
  Object.assign(process.env, stack.env, {
    CT_E2E_GRAFANA_URL: grafana.url,
    CT_E2E_API_URL: stack.apiUrl,
    CT_E2E_API_KEY: stack.adminKey,
    CT_E2E_PROXY_SECRET: stack.proxySecret,
    CT_E2E_DATABASE_URL: stack.ownerDatabaseUrl,
    CT_E2E_PROMETHEUS_URL: stack.prometheusUrl,
  });
  return async () => {
    await grafana.close();
    await stack.stop();
  };
}
