import { spawnSync } from 'node:child_process';
import { Counter, Gauge, Registry } from 'prom-client';
import { registerProcessMetrics, renderMetrics } from './metrics';

test('concurrent renders in different formats each get their own, intact', async () => {
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
  const bodies = await Promise.all(Array.from({ length: 16 }, (_, i) => renderMetrics(registry, i % 2 === 1)));
  bodies.forEach((body, i) => {
    if (i % 2 === 1) {
      expect(body).toContain('# TYPE demo_events counter\ndemo_events_total 3\n');
      expect(body.endsWith('# EOF\n')).toBe(true);
    } else {
      // prom-client renames counters in place for OpenMetrics; the name must come back.
      expect(body).toContain('# TYPE demo_events_total counter\ndemo_events_total 3\n');
      expect(body).not.toContain('# EOF');
    }
  });
});

test('the before hook runs inside the render turn, one render at a time', async () => {
  const registry = new Registry();
  const gauge = new Gauge({ name: 'demo_value', help: 'value', registers: [registry] });
  let inside = 0;
  let maxInside = 0;
  let n = 0;
  const before = async () => {
    inside++;
    maxInside = Math.max(maxInside, inside);
    gauge.set(++n);
    await new Promise((r) => setTimeout(r, 5));
    inside--;
  };
  const bodies = await Promise.all(Array.from({ length: 8 }, (_, i) => renderMetrics(registry, i % 2 === 1, before)));
  expect(maxInside).toBe(1);
  // Each render shows the value its own hook set: 1..8 in order.
  expect(bodies.map((b) => Number(/demo_value (\d+)/.exec(b)![1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
});

test('process metrics carry the service prefix and pass promtool', async () => {
  const registry = new Registry();
  registerProcessMetrics(registry, 'ct_demo_');
  const body = await renderMetrics(registry, false);
  expect(body).toContain('ct_demo_process_resident_memory_bytes');
  expect(body).toContain('ct_demo_nodejs_eventloop_lag_seconds');
  const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
  expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
});
