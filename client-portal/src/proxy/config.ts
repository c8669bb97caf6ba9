import { z } from 'zod';
import { durationSeconds, loadConfig, port, type ConfigOf } from '@ct/lib';

/** The tenant proxy's own variables (see .env.example, section "Tenant proxy"). */
export const tenantProxySchema = z.object({
  /** Port of the Prometheus API the client organisations' datasources call (ct serve tenant-proxy --port overrides it). */
  TENANT_PROXY_PORT: port.default(9466),
  /** Address to listen on; 0.0.0.0 in a container. */
  TENANT_PROXY_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Port of the proxy's own GET /metrics and GET /healthz. Kept off the API port: a client's
   * datasource can reach any path of that one, and the metrics name every client.
   */
  TENANT_PROXY_METRICS_PORT: port.default(9467),
  /** The Prometheus the proxy queries. */
  PROMETHEUS_URL: z.string().url(),
  /** Longest evaluation of one query (sent to Prometheus as its timeout; a longer one is answered 422). */
  TENANT_PROXY_TIMEOUT: durationSeconds.default(30).refine((s) => s >= 1 && s <= 600, 'must be between 1s and 10m'),
  /** Longest PromQL expression or match[] selector accepted, in characters. */
  TENANT_PROXY_MAX_QUERY_LENGTH: z.coerce.number().int().min(256).max(1_000_000).default(16_384),
  /** Largest form-encoded request body accepted, in bytes. */
  TENANT_PROXY_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(10_000_000).default(65_536),
  /** Requests of one client sent to Prometheus at the same time (a dashboard sends all its panels' queries at once); more wait in line. */
  TENANT_PROXY_MAX_CONCURRENT: z.coerce.number().int().min(1).max(1000).default(20),
  /** Requests of one client waiting for a turn; beyond that they are answered 429. */
  TENANT_PROXY_MAX_QUEUED: z.coerce.number().int().min(0).max(10_000).default(100),
  /** How long a verified token is remembered (a rotated or churned client's token stops at most this late). */
  TENANT_PROXY_AUTH_CACHE: durationSeconds.default(10).refine((s) => s <= 300, 'must be at most 5m'),
});

export type TenantProxyConfig = ConfigOf<'database' | 'logging'> & z.infer<typeof tenantProxySchema>;

export function loadTenantProxyConfig(env: NodeJS.ProcessEnv = process.env): TenantProxyConfig {
  return loadConfig(['database', 'logging'], tenantProxySchema, env);
}
