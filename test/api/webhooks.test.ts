import { randomUUID } from 'node:crypto';
import { signWebhook } from '@ct/api';
import { startTestApi, type TestApi } from './harness';

let api: TestApi;
let slug: string;
let clientId: string;
let secret: string;

function post(body: unknown, o: { secret?: string; ts?: number; headers?: Record<string, string>; raw?: string; client?: string } = {}) {
  const raw = o.raw ?? JSON.stringify(body);
  return api.call('POST', `/api/webhooks/n8n/${o.client ?? slug}`, {
    key: null,
    raw,
    headers: { 'content-type': 'application/json', ...signWebhook(o.secret ?? secret, raw, o.ts), ...o.headers },
  });
}
const event = (over: Record<string, unknown> = {}) => ({ id: randomUUID(), type: 'lead.captured', data: { source: 'web form' }, ...over });
const stored = async (key: string) =>
  (await api.pool.query('SELECT kind, details FROM activity_events WHERE idempotency_key = $1', [`${clientId}:${key}`])).rows;

beforeAll(async () => {
  api = await startTestApi();
  const res = await api.call('POST', '/api/clients', { body: { slug: 'plumber-joe', name: 'Joe the Plumber' } });
  slug = res.body.client.slug;
  clientId = res.body.client.id;
  secret = res.body.webhookSecret;
});
afterAll(() => api.close());

describe('signed webhook receiver', () => {
  it('stores a valid event once and updates last_activity_at', async () => {
    const e = event({ occurredAt: new Date(Date.now() - 60_000).toISOString() });
    const res = await post(e);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'stored', secretVersion: 1 });
    expect(await stored(e.id)).toEqual([{ kind: 'lead.captured', details: { source: 'web form' } }]);
    const c = await api.call('GET', `/api/clients/${slug}`);
    expect(Date.now() - Date.parse(c.body.lastActivityAt)).toBeLessThan(10_000);
  });

  it('answers a duplicate event id with 200 and no second row; the key is the signed id, never an unsigned header', async () => {
    const e = event();
    expect((await post(e, { headers: { 'idempotency-key': e.id } })).status).toBe(201);
    const again = await post(e);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('duplicate');
    // A captured request replayed within the window under a new Idempotency-Key is not a new event.
    const raw = JSON.stringify(event());
    const signed = signWebhook(secret, raw);
    const send = (headers: Record<string, string>) =>
      api.call('POST', `/api/webhooks/n8n/${slug}`, {
        key: null,
        raw,
        headers: { 'content-type': 'application/json', ...signed, ...headers },
      });
    expect((await send({})).status).toBe(201);
    for (const k of ['replay-a', 'replay-b']) {
      const replay = await send({ 'idempotency-key': k });
      expect(replay.status).toBe(400);
      expect(replay.body.message).toBe(
        "header Idempotency-Key: must equal the body's id, which is the idempotency key (the header is not signed)",
      );
      expect(await stored(k)).toHaveLength(0);
    }
    expect(await stored(JSON.parse(raw).id)).toHaveLength(1);
    // An event without an id cannot be told from its replay.
    const { id: _id, ...noId } = event();
    const missing = await post(noId, { headers: { 'idempotency-key': 'unsigned-key' } });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toMatch(/body id: /);
  });

  it('refuses a missing or wrong signature with 401 and stores nothing', async () => {
    const e = event();
    const raw = JSON.stringify(e);
    const none = await api.call('POST', `/api/webhooks/n8n/${slug}`, { key: null, raw, headers: { 'content-type': 'application/json' } });
    expect(none.status).toBe(401);
    expect((await post(e, { secret: 'whsec_wrong' })).status).toBe(401);
    // A signature over other bytes (the body was changed in transit).
    const signed = signWebhook(secret, raw);
    const tampered = await api.call('POST', `/api/webhooks/n8n/${slug}`, {
      key: null,
      raw: raw.replace('web form', 'web f0rm'),
      headers: { 'content-type': 'application/json', ...signed },
    });
    expect(tampered.status).toBe(401);
    expect(await stored(e.id)).toHaveLength(0);
  });

  it('refuses a timestamp outside 5 minutes as a replay', async () => {
    const old = await post(event(), { ts: Math.floor(Date.now() / 1000) - 301 });
    expect(old.status).toBe(401);
    expect(old.body.message).toMatch(/5-minute window/);
    expect((await post(event(), { ts: Math.floor(Date.now() / 1000) + 400 })).status).toBe(401);
    expect((await post(event(), { ts: Math.floor(Date.now() / 1000) - 200 })).status).toBe(201);
  });

  it('refuses bodies over 256 KB with 413', async () => {
    const big = event({ data: { blob: 'x'.repeat(256 * 1024) } });
    const res = await post(big);
    expect(res.status).toBe(413);
    const justUnder = event({ data: { blob: 'x'.repeat(255 * 1024) } });
    expect((await post(justUnder)).status).toBe(201);
  });

  it('answers malformed JSON and schema violations with 400 naming the field', async () => {
    const bad = await post(null, { raw: '{"type": "lead.captured",' });
    expect(bad.status).toBe(400);
    expect(bad.body.fields[0].field).toBe('body');
    const wrongType = await post(event({ type: 'Lead Captured!' }));
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.fields.map((f: { field: string }) => f.field)).toEqual(['type']);
    const noId = await post({ type: 'lead.captured' });
    expect(noId.body.fields.map((f: { field: string }) => f.field)).toEqual(['id']);
    const future = await post(event({ occurredAt: new Date(Date.now() + 7200_000).toISOString() }));
    expect(future.body.fields.map((f: { field: string }) => f.field)).toEqual(['occurredAt']);
    const nul = await post(event({ data: { text: 'a\u0000b' } }));
    expect(nul.status).toBe(400);
  });

  it('treats an unknown client like a bad signature (no existence oracle)', async () => {
    expect((await post(event(), { client: 'nobody-here' })).status).toBe(401);
    expect((await post(event(), { client: 'nobody-here' })).status).toBe(401); // from the cache now
    expect((await post(event(), { client: 'Bad_Slug%20x' })).status).toBe(401);
  });

  it('accepts the old secret during the rotation grace period, then refuses it', async () => {
    const rotated = await api.call('POST', `/api/admin/clients/${slug}/rotate-secret`, { body: { grace: '3s' } });
    expect(rotated.status).toBe(200);
    const fresh: string = rotated.body.secret;
    expect(fresh).not.toBe(secret);
    const withOld = await post(event());
    expect(withOld.status).toBe(201);
    expect(withOld.body.secretVersion).toBe(1);
    const withNew = await post(event(), { secret: fresh });
    expect(withNew.status).toBe(201);
    expect(withNew.body.secretVersion).toBe(2);
    await new Promise((r) => setTimeout(r, 3200));
    expect((await post(event())).status).toBe(401);
    expect((await post(event(), { secret: fresh })).status).toBe(201);
    // A second rotation ends the first one's grace at once: only versions 2 (in grace) and 3 verify.
    const again = await api.call('POST', `/api/admin/clients/${slug}/rotate-secret`, { body: { grace: '1h' } });
    expect((await post(event(), { secret: fresh })).status).toBe(201);
    expect((await post(event(), { secret: again.body.secret })).status).toBe(201);
    expect((await post(event())).status).toBe(401);
    secret = again.body.secret;
  });

  it('accepts a client created after its slug was looked up and not found', async () => {
    expect((await post(event(), { client: 'late-comer' })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 1100));
    const res = await api.call('POST', '/api/clients', { body: { slug: 'late-comer', name: 'Late' } });
    expect((await post(event(), { client: 'late-comer', secret: res.body.webhookSecret })).status).toBe(201);
  });

  it('refuses events of a churned client with 403', async () => {
    const res = await api.call('POST', '/api/clients', { body: { slug: 'gone-hvac', name: 'Gone HVAC' } });
    await api.call('POST', '/api/clients/gone-hvac/churn');
    const r = await post(event(), { client: 'gone-hvac', secret: res.body.webhookSecret });
    expect(r.status).toBe(403);
  });

  it('counts results in ct_webhook_events_total by client and result', async () => {
    const text = await api.scrape();
    expect(text).toMatch(/ct_webhook_events_total\{client="plumber-joe",result="stored"\} \d+/);
    expect(text).toMatch(/ct_webhook_events_total\{client="plumber-joe",result="duplicate"\} [1-9]/);
    expect(text).toMatch(/ct_webhook_events_total\{client="unknown",result="replay"\} [1-9]/);
    expect(text).toMatch(/ct_webhook_events_total\{client="unknown",result="too_large"\} 1/);
    expect(text).toMatch(/ct_api_request_duration_seconds_count\{method="POST",route="\/api\/webhooks\/n8n\/:client",status="201"\} \d+/);
    expect(text).not.toMatch(/nobody-here/);
  });
});
