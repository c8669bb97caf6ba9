import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DemoApi, retryAfterMs } from './api-client';

/**
 * The seed's client against a server that rate-limits the way the API does (429 with
 * Retry-After): the event is sent again with the same id and a fresh signature, never dropped.
 * (The API's own limiter has a one-minute window: waiting it out in a test would take a minute.)
 */
let server: Server;
let url: string;
const seen: { status: number; body: string; headers: IncomingMessage['headers'] }[] = [];
let refuseFirst = 1;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const status = refuseFirst-- > 0 ? 429 : seen.some((s) => s.status === 201 && s.body === body) ? 200 : 201;
      seen.push({ status, body, headers: req.headers });
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '1' } : {}) });
      res.end(
        JSON.stringify(
          status === 200 ? { status: 'duplicate' } : status === 201 ? { status: 'stored', id: '1' } : { error: 'rate_limited' },
        ),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

it('waits out a 429 and sends the same signed event again', async () => {
  const api = new DemoApi(url, 'unused');
  const event = {
    id: 'demo-r-pizza-co-0001',
    type: 'order.received',
    occurredAt: '2026-03-01T12:00:00Z',
    data: { summary: 'Order', demo: true as const },
  };
  const started = Date.now();
  expect(await api.postEvent('pizza-co', 'secret-1', event)).toBe('stored');
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  expect(api.rateLimited).toBe(1);
  expect(seen.map((s) => s.status)).toEqual([429, 201]);
  for (const s of seen) {
    expect(JSON.parse(s.body).id).toBe(event.id);
    expect(s.headers['idempotency-key']).toBe(event.id);
    const mac = createHmac('sha256', 'secret-1').update(`${s.headers['x-ct-timestamp']}.${s.body}`).digest('hex');
    expect(s.headers['x-ct-signature']).toBe(`sha256=${mac}`);
  }
  // Posted again (a retry after a lost answer), it is a duplicate, not a second event.
  expect(await api.postEvent('pizza-co', 'secret-1', event)).toBe('duplicate');
});

it('reads Retry-After as seconds or a date, bounded to 1-60 s', () => {
  expect(retryAfterMs('3')).toBe(3000);
  expect(retryAfterMs(null)).toBe(1000);
  expect(retryAfterMs('600')).toBe(60_000);
  expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThanOrEqual(4000);
  expect(retryAfterMs('soon')).toBe(1000);
});
