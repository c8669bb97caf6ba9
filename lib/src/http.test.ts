import { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { Counter, Registry } from 'prom-client';
import { UserError } from './errors';
import { listen, madeWith, metricsHandler } from './http';

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

describe('listen, for an express app', () => {
  it("makes each request and response with the app's own prototypes, before express sees them", async () => {
    const app = express();
    app.use(express.json());
    app.post(
      '/echo',
      (req, res) =>
        void res
          .status(201)
          .set('X-Seen', req.get('x-given') ?? '')
          .json({ got: req.body, ip: req.ip }),
    );
    const server = await listen(app, { port: 0 });
    const atBirth: { req?: object; res?: object; isMessage?: boolean } = {};
    // Runs before express's own request listener, which re-parents whatever it is given.
    server.server.prependListener('request', (req, res) => {
      atBirth.req = Object.getPrototypeOf(req) as object;
      atBirth.res = Object.getPrototypeOf(res) as object;
      atBirth.isMessage = req instanceof IncomingMessage && res instanceof ServerResponse;
    });
    try {
      const r = await fetch(`${server.url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-given': 'yes' },
        body: JSON.stringify({ a: 1 }),
      });
      expect(r.status).toBe(201);
      expect(r.headers.get('x-seen')).toBe('yes');
      expect(await r.json()).toEqual({ got: { a: 1 }, ip: '127.0.0.1' });
      expect(atBirth.req).toBe(app.request);
      expect(atBirth.res).toBe(app.response);
      expect(atBirth.isMessage).toBe(true);
    } finally {
      await server.close(100);
    }
  });
});

describe('madeWith', () => {
  // Node's http constructors are plain functions today; a class (should a Node version make them
  // one) takes the other path. Both must make what the base makes, with the given prototype.
  function PlainBase(this: { made: string[] }, a: string, b: string) {
    this.made = [a, b];
  }
  class ClassBase {
    made: string[];
    constructor(a: string, b: string) {
      this.made = [a, b];
    }
  }
  it.each([
    ['a plain function', PlainBase as unknown as new (a: string, b: string) => { made: string[] }],
    ['a class', ClassBase],
  ])('from %s', (_name, base) => {
    const prototype = Object.create(base.prototype as object) as object;
    const Made = madeWith(base, prototype) as new (a: string, b: string) => { made: string[] };
    const made = new Made('x', 'y');
    expect(Object.getPrototypeOf(made)).toBe(prototype);
    expect(made).toBeInstanceOf(base);
    expect(made.made).toEqual(['x', 'y']);
  });
});
