import { registerProcessMetrics } from '@ct/lib';
import { Counter, Histogram, Registry } from 'prom-client';

/** The API's own metrics, on its /metrics (catalogue in docs/metrics.md). */
export interface ApiMetrics {
  registry: Registry;
  requestDuration: Histogram<'method' | 'route' | 'status'>;
  authFailures: Counter<'reason'>;
  rateLimited: Counter<string>;
  webhookEvents: Counter<'client' | 'result'>;
  webhookBatchEvents: Histogram;
  quickActions: Counter<'action' | 'outcome'>;
}

export function createApiMetrics(): ApiMetrics {
  const registry = new Registry();
  registerProcessMetrics(registry, 'ct_api_');
  return {
    registry,
    requestDuration: new Histogram({
      name: 'ct_api_request_duration_seconds',
      help: 'Time to answer an API request, by method, route template (never the raw path) and status code.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'ct_auth_failures_total',
      help: 'Requests refused by authentication or authorisation, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'ct_rate_limited_total',
      help: 'Requests answered 429 by the rate limiter.',
      registers: [registry],
    }),
    webhookEvents: new Counter({
      name: 'ct_webhook_events_total',
      help: 'Webhook posts from client workflows, by client slug (unknown for unknown slugs) and result.',
      labelNames: ['client', 'result'],
      registers: [registry],
    }),
    webhookBatchEvents: new Histogram({
      name: 'ct_webhook_batch_events',
      help: 'Webhook events written per statement (group commit: the posts that arrived while the previous write was in flight).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 500],
      registers: [registry],
    }),
    quickActions: new Counter({
      name: 'ct_quick_actions_total',
      help: 'Admin quick actions run, by action and outcome.',
      labelNames: ['action', 'outcome'],
      registers: [registry],
    }),
  };
}
