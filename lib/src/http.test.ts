import express from 'express';
import { Counter, Registry } from 'prom-client';
import { UserError } from './errors';
import { listen, metricsHandler } from './http';

describe('metricsHandler', () => {
  it('serves OpenMetrics and text alternately, concurrently, without losing counter names', async () => {
    const registry = new Registry();
    new Counter({ name: 'ct_things_total', help: 'Things.', registers: [registry] }).inc(3);
    const app = express();
    app.get('/metrics', metricsHandler(registry));
    const server = await listen(app, { port: 0 });
    try {
      const get = (accept: string) =>
        fetch(`${server.url}/metrics`, { headers: { Accept: accept } }).then(async (r) => ({
          type: r.headers.get('content-type'),
          body: await r.text(),
        }));
      const om = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5';
      const results = await Promise.all([get(om), get('text/plain'), get(om), get('*/*')]);
      for (const r of [results[0]!, results[2]!]) {
        expect(r.type).toMatch(/^application\/openmetrics-text/);
        expect(r.body).toContain('# TYPE ct_things counter\nct_things_total 3\n');
        expect(r.body.endsWith('# EOF\n')).toBe(true);
      }
      for (const r of [results[1]!, results[3]!]) {
        expect(r.type).toMatch(/^text\/plain; version=0.0.4/);
        expect(r.body).toContain('# TYPE ct_things_total counter\nct_things_total 3\n');
      }
    } finally {
      await server.close(100);
    }
  });
});

describe('listen', () => {
  it('names the address and the setting when the port is taken', async () => {
    const first = await listen(express(), { port: 0 });
    try {
      await expect(listen(express(), { port: first.port, setting: 'API_PORT' })).rejects.toThrow(
        new UserError(`cannot listen on 127.0.0.1:${first.port}: the port is in use (API_PORT or --port)`),
      );
    } finally {
      await first.close();
    }
  });
});
