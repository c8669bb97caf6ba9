import type { Registry } from 'prom-client';

export const PROMETHEUS_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

const renderQueues = new WeakMap<Registry, Promise<unknown>>();

/**
 * Renders a registry in one format, after `before` (the collectors' refresh) in the same turn.
 * prom-client keeps the format on the registry and, for OpenMetrics, renames counters in place
 * (dropping `_total`), both across awaits; so renders of one registry are queued one after the
 * other, each sets its own format and puts the counter names back afterwards, and a concurrent
 * scrape never sees half-updated metrics. (lib's metricsHandler does the same for services
 * without collectors to run first.)
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
