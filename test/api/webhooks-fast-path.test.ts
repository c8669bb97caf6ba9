import { randomUUID } from 'node:crypto';
import { signWebhook } from '@ct/api';
import { startTestApi, type Res, type TestApi } from './harness';

/**
 * POST /api/webhooks/n8n/<client> is answered ahead of express (webhook-fast-path.ts). The same
 * posts, sent to an API with the fast path and to one without it (express only), must get the
 * same status, headers and body, and leave the same metrics and log lines.
 */

const ORIGIN = 'https://ops.agency.test';
/** Each pair: [with the fast path, express only], on one database. */
let pair: [TestApi, TestApi];
let limitedPair: [TestApi, TestApi];
let secret: string;
let churnedSecret: string;

beforeAll(async () => {
  const first = await startTestApi({ settings: { corsOrigins: [ORIGIN] } });
  pair = [first, await startTestApi({ db: first.db, settings: { corsOrigins: [ORIGIN], webhookFastPath: false } })];
  const limits = { rateLimitPerIp: 4, webhookRateLimit: 3 };
  limitedPair = [
    await startTestApi({ db: first.db, settings: limits }),
    await startTestApi({ db: first.db, settings: { ...limits, webhookFastPath: false } }),
  ];
  secret = (await first.call('POST', '/api/clients', { body: { slug: 'pizza-shop', name: 'Pizza Shop' } })).body.webhookSecret;
  churnedSecret = (await first.call('POST', '/api/clients', { body: { slug: 'gone-hvac', name: 'Gone HVAC' } })).body.webhookSecret;
  await first.call('POST', '/api/clients/gone-hvac/churn');
});
afterAll(async () => {
  for (const api of [...(limitedPair ?? []), ...(pair ?? []).reverse()]) await api?.close();
});

interface Post {
  path?: string;
  method?: string;
  raw?: string;
  secret?: string;
  ts?: number;
  headers?: Record<string, string>;
  unsigned?: boolean;
}

const event = () => JSON.stringify({ id: randomUUID(), type: 'lead.captured', data: { source: 'web form' } });

/** Sends one post to an API; the body is made per API (a new event id each) unless given. */
async function send(api: TestApi, p: Post, requestId: string): Promise<Res> {
  const raw = p.raw ?? event();
  return api.call(p.method ?? 'POST', p.path ?? '/api/webhooks/n8n/pizza-shop', {
    key: null,
    raw,
    headers: {
      'content-type': 'application/json',
      'x-request-id': requestId,
      ...(p.unsigned ? {} : signWebhook(p.secret ?? secret, raw, p.ts)),
      ...p.headers,
    },
  });
}

/** Status, headers (but the date) and body, with what differs by nature (stored ids) masked. */
function answer(res: Res, sentId: string) {
  const headers = Object.fromEntries([...res.headers].filter(([k]) => k !== 'date'));
  // A new id when the one sent is not acceptable (each API makes its own).
  if (headers['x-request-id'] !== sentId && /^[0-9a-f-]{36}$/.test(headers['x-request-id'] ?? '')) headers['x-request-id'] = 'generated';
  if (headers.ratelimit) headers.ratelimit = headers.ratelimit.replace(/reset=\d+/, 'reset=N');
  if (headers['retry-after']) headers['retry-after'] = 'N';
  const text = res.text.replace(/^\{"status":"stored","id":"\d+"/, '{"status":"stored","id":"<stored>"');
  if (text !== res.text) headers['content-length'] = 'N';
  return { status: res.status, headers, text };
}

let sent = 0;
async function same(p: Post, expectedStatus: number, [fast, ref] = pair) {
  const id = `post-${++sent}`;
  const [a, b] = [await send(fast, p, id), await send(ref, p, id)];
  expect(answer(a, id)).toEqual(answer(b, id));
  expect(a.status).toBe(expectedStatus);
  return a;
}

/** The API's own metrics that requests move, without timings. */
async function counters(api: TestApi): Promise<string[]> {
  const text = await api.scrape();
  return text
    .split('\n')
    .filter((l) => /^ct_(api_request_duration_seconds_count|webhook_events_total|auth_failures_total|rate_limited_total)\b/.test(l))
    .filter((l) => !l.includes('route="/api/clients')) // the setup's, on one API only
    .sort();
}

/** The request log lines, without what differs by nature (times, durations). */
const requestLog = (api: TestApi) =>
  api.logLines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'request' || l.msg === 'request failed')
    .filter((l) => !String(l.route).startsWith('/api/clients')) // the setup's, on one API only
    .map(({ reqId, method, route, status, actor }) => ({
      reqId: String(reqId).startsWith('post-') ? reqId : 'generated',
      method,
      route,
      status,
      actor,
    }));

describe('the webhook fast path answers as express does', () => {
  it('for good posts, duplicates and every kind of refusal', async () => {
    const now = Math.floor(Date.now() / 1000);
    await same({}, 201);
    await same({ headers: { origin: ORIGIN } }, 201);
    await same({ headers: { origin: 'https://elsewhere.test' } }, 201);
    await same({ path: '/api/webhooks/n8n/pizza-shop?source=n8n' }, 201);
    const [fast, ref] = pair;
    // Each stores one event (the database is shared); then both see it again as a duplicate.
    const dup = event();
    await send(fast, { raw: dup }, randomUUID());
    await send(ref, {}, randomUUID());
    await same({ raw: dup }, 200);
    await same({ raw: dup, headers: { 'idempotency-key': 'another-key' } }, 400);
    await same({ secret: 'whsec_wrong' }, 401);
    await same({ unsigned: true }, 401);
    await same({ ts: now - 3600 }, 401);
    await same({ path: '/api/webhooks/n8n/no-such-client' }, 401);
    await same({ path: '/api/webhooks/n8n/gone-hvac', secret: churnedSecret }, 403);
    await same({ raw: '{"id": "x", "type": ' }, 400);
    await same({ raw: JSON.stringify({ id: 'x', type: 'Not A Type', occurredAt: 'yesterday' }) }, 400);
    await same({ raw: '' }, 400);
    await same({ raw: JSON.stringify({ id: 'big', type: 'a', data: { blob: 'x'.repeat(256 * 1024) } }) }, 413);
    await same({ headers: { 'content-type': 'text/plain', 'x-request-id': 'not a valid id!' } }, 201);
    // Not the fast path's: express answers them in both.
    await same({ path: '/api/webhooks/n8n/Pizza-Shop' }, 401);
    await same({ path: '/api/webhooks/n8n/pizza-shop/' }, 201);
    await same({ path: '/api/webhooks/n8n/pizza%2Dshop' }, 201);
    await same({ method: 'PUT' }, 404);
    await same({ path: '/api/webhooks/other/pizza-shop' }, 404);

    expect(await counters(fast)).toEqual(await counters(ref));
    expect(requestLog(fast)).toEqual(requestLog(ref));
    expect(requestLog(fast).some((l) => l.route === '/api/webhooks/n8n/:client' && l.status === 201)).toBe(true);
  });

  it('for rate-limited posts: refused ones per address and client, a spoofed X-Forwarded-For changing nothing', async () => {
    const [fast, ref] = limitedPair;
    // rateLimitPerIp is 4: the fifth refused post from this address for this client waits.
    for (let n = 0; n < 5; n++)
      await same({ path: '/api/webhooks/n8n/rate-test', headers: { 'x-forwarded-for': `10.9.0.${n}` } }, n < 4 ? 401 : 429, limitedPair);
    // Another client's refusals are limited on their own.
    await same({ path: '/api/webhooks/n8n/other-test' }, 401, limitedPair);
    // Accepted posts count per client only (webhookRateLimit is 3).
    for (const status of [201, 201, 201, 429]) await same({ headers: { 'x-forwarded-for': '10.9.9.9' } }, status, limitedPair);
    expect(await counters(fast)).toEqual(await counters(ref));
    expect(requestLog(fast)).toEqual(requestLog(ref));
  });
});
