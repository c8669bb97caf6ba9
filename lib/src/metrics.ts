import type { Registry } from 'prom-client';

export const PROMETHEUS_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

const renderQueues = new WeakMap<Registry, Promise<unknown>>();

/**
 * Renders a registry in one format, after `before` (the collectors' refresh) in the same turn.
 * prom-client keeps the format on the registry and, for OpenMetrics, renames counters in place
 * (dropping `_total`), both across awaits; so renders of one registry are queued one after the
 * other, each sets its own format and puts the counter names back afterwards, and a concurrent
 * scrape never sees half-updated metrics.
 */
export function renderMetrics(registry: Registry, openMetrics: boolean, before?: () => Promise<void>): Promise<string> {
  const previous = renderQueues.get(registry) ?? Promise.resolve();
  const run = previous
    .catch(() => undefined)
    .then(async () => {
      if (before) await before();
      const metrics = registry.getMetricsAsArray() as unknown as { name: string }[];
      const names = metrics.map((m) => m.name);
      registry.setContentType((openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_TEXT_CONTENT_TYPE) as never);
      try {
        return await registry.metrics();
      } finally {
        metrics.forEach((m, i) => (m.name = names[i]!));
      }
    });
  renderQueues.set(registry, run);
  return run;
}

/** Default process metrics that promtool rejects: gauges whose names end in `_total`. */
const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * prom-client's process and Node.js runtime metrics (CPU, resident memory, heap, event-loop lag,
 * GC) under `prefix` (e.g. `ct_api_`), less the three that break `promtool check metrics`.
 */
export function registerProcessMetrics(registry: Registry, prefix: string): void {
  // Loaded here, not with @ct/lib: most ct commands serve no metrics, and every command loads @ct/lib.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { collectDefaultMetrics } = require('prom-client') as typeof import('prom-client');
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(`${prefix}${name}`);
}
