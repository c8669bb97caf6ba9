import { randomUUID } from 'node:crypto';
import { verifyAuditChain } from '@ct/lib';
import { signWebhook } from '@ct/api';
import { operations, PROXY_SECRET, startTestApi, type TestApi } from './harness';

/**
 * 2,400 random and malformed requests across every route (seeded, so a failure can be replayed
 * with FUZZ_SEED): the API answers only 2xx/4xx, stays up, and the database stays consistent.
 */
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const COUNT = 2400;

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const chance = (p: number) => rand() < p;

const STRINGS = [
  '',
  ' ',
  'a',
  'fuzz-client',
  'FUZZ',
  'x'.repeat(300),
  'é漢字🙂',
  '\u0000',
  "'; DROP TABLE clients; --",
  '../../etc/passwd',
  '%00',
  '${7*7}',
  '<script>alert(1)</script>',
  '2026-01-01',
  '2026-13-45',
  '2026-01-01T00:00:00Z',
  '1970-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '-1',
  '0',
  '1e309',
  'NaN',
  'true',
  'null',
  'USD',
  'usd',
  'admin',
  'read,write',
  '15m',
  '-5s',
  '99999999d',
  randomUUID(),
  'ct_xxxxxxxxxxxxxxxxxxxx',
  'client_runs',
  'paid',
];
function value(depth = 0): unknown {
  const r = rand();
  if (r < 0.3) return pick(STRINGS);
  if (r < 0.5) return pick([0, -1, 1, 1.5, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, 5, 100, 9900]);
  if (r < 0.6) return pick([true, false, null]);
  if (r < 0.75 && depth < 3) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
  if (depth < 3) return object(depth + 1);
  return pick(STRINGS);
}
function object(depth = 0, known: string[] = []): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const n = Math.floor(rand() * 5);
  for (let i = 0; i < n; i++)
    o[chance(0.8) && known.length ? pick(known) : pick(['__proto__', 'constructor', 'x', 'id', 'status', 'client'])] = value(depth);
  return o;
}

const asText = (v: unknown) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));

let api: TestApi;
let secret: string;
beforeAll(async () => {
  // `ct serve api` wires the backup module in production; here a stand-in keeps "one at a time".
  let running: { id: string; status: string; startedAt: string } | null = null;
  api = await startTestApi({
    forceBackup: async () => {
      const alreadyRunning = running !== null;
      running ??= { id: randomUUID(), status: 'running', startedAt: new Date().toISOString() };
      return { run: running, alreadyRunning };
    },
  });
  const c = await api.call('POST', '/api/clients', { body: { slug: 'fuzz-client', name: 'Fuzz' } });
  secret = c.body.webhookSecret;
});
afterAll(() => api.close());

it(`survives ${COUNT} random and malformed requests (seed ${SEED})`, async () => {
  const ops = await operations(api);
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  const one = async () => {
    const op = pick(ops);
    const path = op.template.replace(
      /\{(\w+)\}/g,
      () => encodeURIComponent(pick(['fuzz-client', randomUUID(), ...STRINGS.slice(0, 12)])).slice(0, 500) || 'x',
    );
    const qs = op.query
      .filter(() => chance(0.5))
      .map((q) => `${q}=${encodeURIComponent(asText(value()).slice(0, 300))}`)
      .concat(chance(0.1) ? ['limit=1&limit=2', 'cursor=%FF%FE', '__proto__[x]=1'] : [])
      .join('&');
    const headers: Record<string, string> = {};
    const credential = rand();
    if (credential < 0.65) headers.authorization = `Bearer ${api.keys.admin}`;
    else if (credential < 0.75) headers.authorization = `Bearer ${pick([api.keys.read, api.keys.write])}`;
    else if (credential < 0.8)
      Object.assign(headers, { 'x-ct-proxy-secret': PROXY_SECRET, 'x-grafana-user': pick(['bob', 'bad user!', '']) });
    else if (credential < 0.9)
      headers.authorization = pick([
        'Bearer ',
        'Bearer ct_',
        'Bearer eyJhbGciOiJub25lIn0.e30.',
        'Basic Zm9vOmJhcg==',
        `Bearer ${'x'.repeat(5000)}`,
      ]);
    let raw: string | undefined;
    if (op.method !== 'GET' && op.method !== 'DELETE') {
      const shape = rand();
      if (shape < 0.7) raw = JSON.stringify(object(0, op.body));
      else if (shape < 0.8) raw = pick(['{', '{"a":', 'null', '[]', '"str"', '{"a":1}}', '\u0000', '{"x":"\\ud800"}']);
      else if (shape < 0.9) raw = JSON.stringify(value());
      headers['content-type'] = pick([
        'application/json',
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=latin1',
      ]);
    }
    if (op.template.startsWith('/api/webhooks')) {
      raw ??= JSON.stringify({ id: randomUUID(), type: pick(['lead.captured', 'X', '']), data: value() });
      if (chance(0.6)) Object.assign(headers, signWebhook(secret, raw, chance(0.9) ? undefined : 1));
      else headers['x-ct-signature'] = pick(['sha256=', 'sha256=zz', 'md5=abc', `sha256=${'0'.repeat(64)}`]);
      if (chance(0.2)) headers['idempotency-key'] = pick(['k1', 'k1', ' ', 'é', 'x'.repeat(151)]);
    }
    // restart-stuck acts on the shared n8n: keep the fuzzer's calls to dry runs of its own client.
    if (op.template.endsWith('/restart-stuck') && raw) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = undefined; // malformed: refused before anything runs
      }
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        raw = JSON.stringify({ ...parsed, dryRun: true, client: 'fuzz-client' });
    }
    const method = chance(0.03) ? pick(['PUT', 'OPTIONS', 'HEAD', 'PATCH']) : op.method;
    const url = `${api.url}${path}${qs ? `?${qs}` : ''}`;
    let status: number;
    try {
      const res = await fetch(url, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : raw });
      const text = await res.text();
      status = res.status;
      if (status >= 500) failures.push(`${method} ${path}?${qs} ${raw?.slice(0, 200)} → ${status} ${text.slice(0, 200)}`);
    } catch (err) {
      status = -1;
      failures.push(`${method} ${url}: ${(err as Error).message}`);
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  };
  for (let i = 0; i < COUNT; i += 8) await Promise.all(Array.from({ length: 8 }, one));

  expect(failures).toEqual([]);
  expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2000);
  // Some of each: the fuzzer reached handlers, validation and authentication.
  expect(statuses.get(400)).toBeGreaterThan(100);
  expect(statuses.get(401)).toBeGreaterThan(50);
  expect([...statuses.keys()].some((s) => s >= 200 && s < 300)).toBe(true);

  // Still up, and the database is consistent.
  expect((await api.call('GET', '/healthz', { key: null })).status).toBe(200);
  const chain = await verifyAuditChain(api.pool);
  expect(chain).toMatchObject({ ok: true });
  const orphans = await api.pool.query(
    `SELECT c.slug FROM clients c WHERE c.status <> 'churned' AND
       (SELECT count(*) FROM client_secrets s WHERE s.client_id = c.id AND s.kind = 'webhook' AND s.expires_at IS NULL AND s.revoked_at IS NULL) <> 1`,
  );
  expect(orphans.rows).toEqual([]);
  const changes = await api.pool.query("SELECT count(*)::int AS n FROM clients WHERE slug <> 'fuzz-client'");
  const created = await api.pool.query(
    "SELECT count(*)::int AS n FROM audit_logs WHERE action = 'client.create' AND target_id IN (SELECT id::text FROM clients WHERE slug <> 'fuzz-client')",
  );
  expect(created.rows[0].n).toBe(changes.rows[0].n);
}, 300_000);
