import express from 'express';
import { Counter, Gauge, Registry } from 'prom-client';
import { listen, metricsHandler, renderMetrics } from './http';

/** A registry whose gauge takes a while to collect, so concurrent renders overlap. */
function slowRegistry(): Registry {
  const registry = new Registry();
  new Counter({ name: 'demo_events_total', help: 'events', registers: [registry] }).inc(3);
  new Gauge({
    name: 'demo_slow',
    help: 'slow',
    registers: [registry],
    async collect() {
      await new Promise((r) => setTimeout(r, 5));
      this.set(1);
    },
  });
  return registry;
}

test('concurrent scrapes asking for different formats each get their own, intact', async () => {
  const registry = slowRegistry();
  const app = express();
  app.get('/metrics', metricsHandler(registry));
  const server = await listen(app, { port: 0 });
  try {
    const accepts = Array.from({ length: 16 }, (_, i) =>
      i % 2 ? 'application/openmetrics-text; version=1.0.0' : 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
    );
    const responses = await Promise.all(
      accepts.map(async (accept) => {
        const res = await fetch(`${server.url}/metrics`, { headers: { accept } });
        return { accept, type: res.headers.get('content-type') ?? '', body: await res.text() };
      }),
    );
    for (const r of responses) {
      if (r.accept.startsWith('application/openmetrics-text')) {
        expect(r.type).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
        expect(r.body).toContain('# TYPE demo_events counter\n');
        expect(r.body).toContain('demo_events_total 3\n');
        expect(r.body.endsWith('# EOF\n')).toBe(true);
      } else {
        expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
        // prom-client renames counters in place for OpenMetrics; the name must come back.
        expect(r.body).toContain('# TYPE demo_events_total counter\ndemo_events_total 3\n');
        expect(r.body).not.toContain('# EOF');
      }
    }
  } finally {
    await server.close();
  }
});

test('the before hook runs inside the render turn, one scrape at a time', async () => {
  const registry = new Registry();
  const gauge = new Gauge({ name: 'demo_value', help: 'value', registers: [registry] });
  let inside = 0;
  let maxInside = 0;
  let n = 0;
  const before = async () => {
    inside++;
    maxInside = Math.max(maxInside, inside);
    const mine = ++n;
    gauge.set(mine);
    await new Promise((r) => setTimeout(r, 5));
    inside--;
  };
  const bodies = await Promise.all(Array.from({ length: 8 }, (_, i) => renderMetrics(registry, i % 2 === 1, before)));
  expect(maxInside).toBe(1);
  // Each render shows the value its own hook set: 1..8 in order.
  expect(bodies.map((b) => Number(/demo_value (\d+)/.exec(b)![1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
});
