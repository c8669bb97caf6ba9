import { randomUUID } from 'node:crypto';
import { signWebhook, WEBHOOK_REFUSED_CLIENTS_PER_ADDRESS } from '@ct/api';
import { startTestApi, type TestApi } from '../api/harness';

/**
 * One n8n server posts every client's events, so every post arrives from the same address. The
 * attack (or accident): one client's posts are refused in a loop — a churned client's runaway
 * workflow, a client over its quota, a workflow sending a bad body, one signing with a stale
 * secret — or a stranger sprays made-up slugs. None of it may cost another client its deliveries.
 */
const PER_ADDRESS = 5;
const QUOTA = 15;
const N8N = '10.0.0.2';
const STRANGER = '10.6.6.6';

let admin: TestApi;
let api: TestApi;
const secrets: Record<string, string> = {};

beforeAll(async () => {
  admin = await startTestApi();
  for (const slug of ['good-co', 'churned-co', 'busy-co', 'sloppy-co', 'stale-co']) {
    const res = await admin.call('POST', '/api/clients', { body: { slug, name: slug } });
    expect(res.status).toBe(201);
    secrets[slug] = res.body.webhookSecret;
  }
  expect((await admin.call('POST', '/api/clients/churned-co/churn', { body: {} })).status).toBe(200);
  // The receiver, behind one reverse proxy (it appends the sender's address), as in production.
  api = await startTestApi({ db: admin.db, settings: { trustProxy: 1, rateLimitPerIp: PER_ADDRESS, webhookRateLimit: QUOTA } });
});
afterAll(async () => {
  await api?.close();
  await admin?.close();
});

function post(slug: string, o: { from?: string; secret?: string; body?: unknown } = {}) {
  const raw = JSON.stringify(o.body ?? { id: randomUUID(), type: 'order.placed' });
  return api.call('POST', `/api/webhooks/n8n/${slug}`, {
    key: null,
    raw,
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': o.from ?? N8N,
      ...signWebhook(o.secret ?? secrets[slug] ?? 'whsec_none', raw),
    },
  });
}

const storedFor = async (slug: string) =>
  Number(
    (
      await api.pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM activity_events e JOIN clients c ON c.id = e.client_id WHERE c.slug = $1',
        [slug],
      )
    ).rows[0]!.n,
  );

it("other clients' refused posts from the same n8n address, past every limit, never stop a client's signed posts", async () => {
  const refusedLoop = PER_ADDRESS * WEBHOOK_REFUSED_CLIENTS_PER_ADDRESS + 10; // past the per-client and the per-address bounds
  const statuses: Record<string, number[]> = { churned: [], busy: [], sloppy: [], stale: [] };
  const good: number[] = [];
  for (let i = 0; i < refusedLoop; i++) {
    statuses.churned!.push((await post('churned-co')).status);
    if (i < 2 * QUOTA) statuses.busy!.push((await post('busy-co')).status);
    if (i < 20) statuses.sloppy!.push((await post('sloppy-co', { body: { id: randomUUID(), type: 'Not A Type!' } })).status);
    if (i < 20) statuses.stale!.push((await post('stale-co', { secret: 'whsec_rotated-out-long-ago' })).status);
    if (i % 5 === 0) good.push((await post('good-co')).status);
  }
  // Each misbehaving client was refused, then limited: for its own posts only.
  expect(statuses.churned!.slice(0, PER_ADDRESS)).toEqual(Array(PER_ADDRESS).fill(403));
  expect(statuses.churned!.slice(PER_ADDRESS)).toEqual(Array(refusedLoop - PER_ADDRESS).fill(429));
  expect(statuses.busy!.slice(0, QUOTA)).toEqual(Array(QUOTA).fill(201));
  expect(statuses.busy!.slice(QUOTA)).toEqual(Array(QUOTA).fill(429));
  expect(new Set(statuses.sloppy!.slice(0, PER_ADDRESS))).toEqual(new Set([400]));
  expect(new Set(statuses.stale!.slice(0, PER_ADDRESS))).toEqual(new Set([401]));
  expect(statuses.stale!.at(-1)).toBe(429);
  // The well-behaved client kept delivering throughout, and every post of its was stored.
  expect(good).toEqual(Array(good.length).fill(201));
  expect(good.length).toBeGreaterThan(QUOTA / 2);
  expect(await storedFor('good-co')).toBe(good.length);
  expect(await storedFor('churned-co')).toBe(0);
});

it('a stranger forging posts to a client, or spraying made-up slugs, is stopped; n8n posts on for that client', async () => {
  const forged: number[] = [];
  for (let i = 0; i < PER_ADDRESS + 2; i++) forged.push((await post('good-co', { from: STRANGER, secret: 'whsec_guess' })).status);
  expect(forged).toEqual([...Array(PER_ADDRESS).fill(401), 429, 429]);
  const bound = PER_ADDRESS * WEBHOOK_REFUSED_CLIENTS_PER_ADDRESS;
  const sprayed: number[] = [];
  for (let i = 0; i < bound; i++) sprayed.push((await post(`made-up-${i}`, { from: STRANGER, secret: 'whsec_guess' })).status);
  // Its first refusals (those to good-co included) count towards the bound.
  expect(sprayed.slice(0, bound - PER_ADDRESS)).toEqual(Array(bound - PER_ADDRESS).fill(401));
  expect(sprayed.slice(bound - PER_ADDRESS)).toEqual(Array(PER_ADDRESS).fill(429));
  const before = await storedFor('good-co');
  expect((await post('good-co')).status).toBe(201);
  expect(await storedFor('good-co')).toBe(before + 1);
});
