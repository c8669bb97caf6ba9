import { registerProcessMetrics } from '@ct/lib';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const ENDPOINTS = [
  'query',
  'query_range',
  'series',
  'labels',
  'label_values',
  'query_exemplars',
  'metadata',
  'buildinfo',
  'other',
] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

export type Outcome =
  | 'ok'
  | 'unauthorized'
  | 'forbidden'
  | 'bad_request'
  | 'too_large'
  | 'rate_limited'
  | 'timeout'
  | 'upstream_rejected'
  | 'upstream_error'
  | 'unavailable'
  | 'canceled';

export type RejectReason = 'parse_error' | 'unsupported' | 'too_long' | 'not_a_selector' | 'invalid_parameter';

/** The tenant proxy's own metrics, on its metrics port. `client` is a client's slug, or `unknown` before authentication. */
export function createTenantProxyMetrics() {
  const registry = new Registry();
  registerProcessMetrics(registry, 'ct_tenant_proxy_');
  return {
    registry,
    requests: new Counter({
      name: 'ct_tenant_proxy_requests_total',
      help: 'Requests answered, by client (unknown before authentication), endpoint and outcome (ok|unauthorized|forbidden|bad_request|too_large|rate_limited|timeout|upstream_rejected|upstream_error|unavailable|canceled).',
      labelNames: ['client', 'endpoint', 'outcome'] as const,
      registers: [registry],
    }),
    rejectedQueries: new Counter({
      name: 'ct_tenant_proxy_rejected_queries_total',
      help: 'PromQL expressions and parameters refused before reaching Prometheus, by client and reason (parse_error|unsupported|too_long|not_a_selector|invalid_parameter).',
      labelNames: ['client', 'reason'] as const,
      registers: [registry],
    }),
    addedLatency: new Histogram({
      name: 'ct_tenant_proxy_added_latency_seconds',
      help: 'Time the proxy itself adds to a request answered by Prometheus (authentication, checks, rewriting, relaying; the wait for a turn under the per-client cap excluded), by endpoint.',
      labelNames: ['endpoint'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'ct_tenant_proxy_in_flight_requests',
      help: 'Requests of a client being answered by Prometheus now (at most TENANT_PROXY_MAX_CONCURRENT each).',
      labelNames: ['client'] as const,
      registers: [registry],
    }),
  };
}

export type TenantProxyMetrics = ReturnType<typeof createTenantProxyMetrics>;
