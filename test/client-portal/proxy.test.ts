import { execFileSync, spawn } from 'node:child_process';
import { createLogger } from '@ct/lib';
import { issuePortalToken, startTenantProxy, verifyPortalToken, type RunningTenantProxy, type TenantProxyLimits } from '@ct/client-portal';
import { freePort } from '../bench/process';
import { CT_BIN, runCt } from '../helpers/cli';
import { parseMetrics, valueOf } from '../helpers/metrics';
import { call, startProxyBench, type ProxyBench } from './proxy-fixture';

/**
 * The tenant proxy against the bench's PostgreSQL and a private Prometheus holding four clients'
 * series and the platform's (see proxy-fixture.ts): authentication by portal token, every
 * endpoint Grafana's Prometheus datasource uses, what is refused and how, the limits, the proxy's
 * own metrics, and the two commands, `ct portal token` and `ct serve tenant-proxy`.
 */

let bench: ProxyBench;
const extra: RunningTenantProxy[] = [];

beforeAll(async () => {
  bench = await startProxyBench();
}, 120_000);

afterAll(async () => {
  await Promise.all(extra.map((p) => p.stop()));
  await bench?.stop();
}, 60_000);

/** Another proxy on the same database and Prometheus, with other settings. */
async function proxyWith(opts: { limits?: Partial<TenantProxyLimits>; authCacheSeconds?: number; prometheusUrl?: string }) {
  const p = await startTenantProxy({
    pool: bench.db.appPool,
    prometheusUrl: opts.prometheusUrl ?? bench.prometheus.url,
    logger: createLogger({ level: 'silent' }),
    port: 0,
    metricsPort: 0,
    authCacheSeconds: opts.authCacheSeconds ?? 0,
    limits: opts.limits,
  });
  extra.push(p);
  return p;
}

const enc = encodeURIComponent;
const asAlpha = (path: string, opts: Parameters<typeof call>[2] = {}) =>
  call(bench.proxy.url, path, { token: bench.attacker.token, ...opts });
type Vector = {
  data: { resultType: string; result: { metric: Record<string, string>; value?: [number, string]; values?: [number, string][] }[] };
};

describe('authentication', () => {
  const UNAUTHORIZED = {
    status: 'error',
    errorType: 'unauthorized',
    error: 'a valid portal token is required (Authorization: Bearer <token>)',
  };

  it('answers 401 with one body, whatever is wrong with the credential', async () => {
    const path = `/api/v1/query?query=${enc('up')}`;
    const [victim] = bench.victims;
    const answers = await Promise.all([
      call(bench.proxy.url, path, { token: null }),
      call(bench.proxy.url, path, { headers: { Authorization: 'Basic YWRtaW46YWRtaW4=' } }),
      call(bench.proxy.url, path, { headers: { Authorization: 'Bearer' } }),
      call(bench.proxy.url, path, { token: 'ctp_not-a-token' }),
      call(bench.proxy.url, path, { token: `ctp_${'A'.repeat(43)}` }),
      call(bench.proxy.url, path, { token: `${victim!.token}x` }),
      call(bench.proxy.url, path, { headers: { Authorization: `Token ${victim!.token}` } }),
      call(bench.proxy.url, '/api/v1/targets', { token: null }),
    ]);
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.json).toEqual(UNAUTHORIZED);
      expect(a.headers.get('www-authenticate')).toBe('Bearer realm="ct-tenant-proxy"');
      for (const v of bench.victims) expect(a.text).not.toContain(v.slug);
    }
  });

  it('accepts the Bearer scheme in any case, and each token reads only its own client', async () => {
    for (const c of [bench.attacker, ...bench.victims]) {
      const a = await call(bench.proxy.url, `/api/v1/label/client/values`, { headers: { Authorization: `bearer ${c.token}` } });
      expect(a.json).toEqual({ status: 'success', data: [c.slug] });
    }
  });

  it('ends a replaced token at once, or after its grace; a churned client is refused', async () => {
    const p = await proxyWith({ authCacheSeconds: 0 });
    const slug = bench.victims[2]!.slug;
    const first = await issuePortalToken(bench.db.appPool, bench.keyring, slug, { actor: { actor: 'test' } });
    const second = await issuePortalToken(bench.db.appPool, bench.keyring, slug, { graceSeconds: 3600, actor: { actor: 'test' } });
    expect(second.version).toBe(first.version + 1);
    expect(second.previousExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    const status = async (token: string) => (await call(p.url, '/api/v1/labels', { token })).status;
    expect([await status(first.token), await status(second.token)]).toEqual([200, 200]);
    // A third: the first (in its grace) and the second (current, rotated without grace) end now.
    const third = await issuePortalToken(bench.db.appPool, bench.keyring, slug, { actor: { actor: 'test' } });
    expect([await status(first.token), await status(second.token), await status(third.token)]).toEqual([401, 401, 200]);
    // Audited, one row per issue, with the versions and the grace.
    const { rows } = await bench.db.pool.query<{ action: string; details: { version: number; grace_seconds: number } }>(
      `SELECT action, details FROM audit_logs WHERE action LIKE 'client.portal_token.%' AND details->>'version' = $1`,
      [String(second.version)],
    );
    expect(rows).toEqual([
      { action: 'client.portal_token.rotate', details: expect.objectContaining({ version: second.version, grace_seconds: 3600 }) },
    ]);
    // Churned: refused by the proxy, and no new token.
    await bench.db.pool.query(`UPDATE clients SET status = 'churned' WHERE slug = $1`, [slug]);
    try {
      expect(await status(third.token)).toBe(401);
      await expect(issuePortalToken(bench.db.appPool, bench.keyring, slug)).rejects.toThrow(/churned/);
    } finally {
      await bench.db.pool.query(`UPDATE clients SET status = 'active' WHERE slug = $1`, [slug]);
    }
    expect(await status(third.token)).toBe(200);
    bench.victims[2]!.token = third.token;
  });

  it('stores the token encrypted and hashed, never in clear, and sets the database role password to it', async () => {
    const { rows } = await bench.db.pool.query<{ ciphertext: Buffer; secret_hash: string }>(
      `SELECT s.ciphertext, s.secret_hash FROM client_secrets s JOIN clients c ON c.id = s.client_id
        WHERE c.slug = $1 AND s.kind = 'portal_token' AND s.expires_at IS NULL`,
      [bench.attacker.slug],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.ciphertext.toString('latin1')).not.toContain(bench.attacker.token);
    expect(rows[0]!.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await verifyPortalToken(bench.db.appPool, bench.attacker.token)).toMatchObject({ slug: bench.attacker.slug, expiresAt: null });
    // The role logs in with the token as its password.
    const url = new URL(bench.db.url);
    url.username = `ct_portal_${bench.attacker.slug.replace(/-/g, '_')}`;
    url.password = bench.attacker.token;
    const { Client } = await import('pg');
    const c = new Client({ connectionString: url.toString() });
    await c.connect();
    const { rows: who } = await c.query<{ u: string }>('SELECT current_user AS u');
    await c.end();
    expect(who[0]!.u).toBe(url.username);
  });

  it('refuses an unknown client and a grace out of bounds, writing nothing', async () => {
    await expect(issuePortalToken(bench.db.appPool, bench.keyring, 'no-such-client')).rejects.toThrow(
      'no client with slug "no-such-client"',
    );
    await expect(issuePortalToken(bench.db.appPool, bench.keyring, bench.attacker.slug, { graceSeconds: -1 })).rejects.toThrow(/grace/);
    const { rows } = await bench.db.pool.query(
      `SELECT 1 FROM audit_logs WHERE action LIKE 'client.portal_token.%' AND outcome <> 'success'`,
    );
    expect(rows).toEqual([]);
  });
});

describe('the endpoints Grafana uses', () => {
  let at: number;
  beforeAll(() => {
    at = Math.floor(Date.now() / 1000) - 2;
  });

  it('instant query, GET and form POST: the client own series only, values as Prometheus has them', async () => {
    const get = await asAlpha(`/api/v1/query?query=${enc('ct_client_hours_saved')}&time=${at}`);
    const post = await asAlpha('/api/v1/query', { form: new URLSearchParams({ query: 'ct_client_hours_saved', time: String(at) }) });
    for (const a of [get, post]) {
      expect(a.status).toBe(200);
      const r = (a.json as Vector).data.result;
      expect(r.map((s) => [s.metric.client, s.value![1]])).toEqual([[bench.attacker.slug, '12.5']]);
    }
    // 1+1 is Grafana's health check query: no selector, answered as is.
    const health = await asAlpha(`/api/v1/query?query=${enc('1+1')}`);
    expect((health.json as { data: { result: [number, string] } }).data.result[1]).toBe('2');
  });

  it('range query, GET and form POST', async () => {
    const params = { query: 'ct_client_hours_saved', start: String(at - 6), end: String(at), step: '1' };
    // What Prometheus itself holds for the client's series over the same range.
    const straight = new URLSearchParams({ ...params, query: `ct_client_hours_saved{client="${bench.attacker.slug}"}` });
    const expected = ((await (await fetch(`${bench.prometheus.url}/api/v1/query_range?${straight}`)).json()) as Vector).data.result;
    expect(expected[0]!.values!.length).toBeGreaterThanOrEqual(2);
    for (const a of [
      await asAlpha(`/api/v1/query_range?${new URLSearchParams(params)}`),
      await asAlpha('/api/v1/query_range', { form: new URLSearchParams(params) }),
    ]) {
      expect(a.status).toBe(200);
      const r = (a.json as Vector).data;
      expect(r.resultType).toBe('matrix');
      expect(r.result).toEqual(expected);
      for (const [, v] of r.result[0]!.values!) expect(v).toBe('12.5');
    }
  });

  it('series, labels and label values: with no match[], the client own series', async () => {
    const series = await asAlpha('/api/v1/series');
    const list = (series.json as { data: Record<string, string>[] }).data;
    expect(new Set(list.map((s) => s.__name__))).toEqual(
      new Set(['ct_workflow_executions_total', 'ct_workflow_active', 'ct_client_hours_saved']),
    );
    expect(new Set(list.map((s) => s.client))).toEqual(new Set([bench.attacker.slug]));
    const labels = await asAlpha('/api/v1/labels');
    expect((labels.json as { data: string[] }).data.sort()).toEqual([
      '__name__',
      'client',
      'instance',
      'job',
      'name',
      'status',
      'workflow',
    ]);
    const names = await asAlpha('/api/v1/label/__name__/values');
    expect((names.json as { data: string[] }).data).toEqual([
      'ct_client_hours_saved',
      'ct_workflow_active',
      'ct_workflow_executions_total',
    ]);
    const filtered = await asAlpha(`/api/v1/series?match[]=${enc('ct_workflow_executions_total{status="error"}')}`, { method: 'POST' });
    expect((filtered.json as { data: Record<string, string>[] }).data).toHaveLength(1);
    const labelsPost = await asAlpha('/api/v1/labels', { form: `match[]=${enc('ct_client_hours_saved')}` });
    expect((labelsPost.json as { data: string[] }).data.sort()).toEqual(['__name__', 'client', 'instance', 'job']);
  });

  it('exemplars of the client own series', async () => {
    const a = await asAlpha(`/api/v1/query_exemplars?query=${enc('ct_workflow_executions_total')}&start=${at - 60}&end=${at + 5}`);
    expect(a.status).toBe(200);
    const data = (a.json as { data: { seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string> }[] }[] }).data;
    expect(data.length).toBeGreaterThan(0);
    for (const d of data) {
      expect(d.seriesLabels.client).toBe(bench.attacker.slug);
      for (const e of d.exemplars) expect(e.labels.trace_id).toMatch(/^trace-alpha-/);
    }
  });

  it('metadata of the ct_ metrics the client has series of, nothing else', async () => {
    const a = await asAlpha('/api/v1/metadata');
    expect(Object.keys((a.json as { data: object }).data).sort()).toEqual([
      'ct_client_hours_saved',
      'ct_workflow_active',
      'ct_workflow_executions',
    ]);
    const one = await asAlpha('/api/v1/metadata?metric=ct_client_hours_saved');
    expect((one.json as { data: Record<string, { type: string }[]> }).data.ct_client_hours_saved![0]!.type).toBe('gauge');
    const limited = await asAlpha('/api/v1/metadata?limit=1');
    expect(Object.keys((limited.json as { data: object }).data)).toHaveLength(1);
    expect((await asAlpha('/api/v1/metadata?metric=up%7B%7D')).status).toBe(400);
  });

  it('build information, for the datasource health check', async () => {
    const a = await asAlpha('/api/v1/status/buildinfo');
    expect(a.status).toBe(200);
    expect((a.json as { data: { version: string } }).data.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('refuses everything else with 403, and a wrong method with 405', async () => {
    for (const path of [
      '/api/v1/targets',
      '/api/v1/rules',
      '/api/v1/alerts',
      '/api/v1/status/tsdb',
      '/api/v1/status/flags',
      '/federate',
      '/api/v1/read',
      '/metrics',
      '/healthz',
      '/',
    ]) {
      const a = await asAlpha(path);
      expect([path, a.status, (a.json as { errorType: string }).errorType]).toEqual([path, 403, 'forbidden']);
    }
    expect((await asAlpha('/api/v1/admin/tsdb/delete_series?match[]=up', { method: 'POST' })).status).toBe(403);
    const wrong = await asAlpha('/api/v1/query?query=up', { method: 'DELETE' });
    expect([wrong.status, wrong.headers.get('allow')]).toEqual([405, 'GET, POST']);
    expect((await asAlpha('/api/v1/label/client/values', { method: 'POST' })).status).toBe(405);
  });
});

describe('refusals name what is wrong', () => {
  const refused = async (path: string, opts: Parameters<typeof call>[2] = {}) => {
    const a = await asAlpha(path, opts);
    return { status: a.status, error: (a.json as { error: string }).error };
  };

  it('a missing, repeated or malformed parameter', async () => {
    expect(await refused('/api/v1/query')).toEqual({ status: 400, error: 'parameter query is required' });
    expect(await refused('/api/v1/query?query=up&query=up')).toEqual({
      status: 400,
      error: 'parameter query is given 2 times; give it once',
    });
    expect(await refused('/api/v1/query?query=up&timeout=soon')).toEqual({
      status: 400,
      error: 'parameter timeout must be a duration such as 30s, got "soon"',
    });
    expect(await refused(`/api/v1/query?query=up&time=${'9'.repeat(100)}`)).toEqual({
      status: 400,
      error: 'parameter time is too long (100 characters)',
    });
    expect(await refused('/api/v1/label/bad-name/values')).toEqual({ status: 400, error: 'invalid label name "bad-name"' });
  });

  it('PromQL that does not parse, or that cannot be enforced', async () => {
    expect(await refused(`/api/v1/query?query=${enc('sum(up')}`)).toEqual({
      status: 400,
      error: 'query refused: invalid PromQL at line 1, column 7 (end of the expression)',
    });
    expect((await refused(`/api/v1/query?query=${enc('info(up)')}`)).error).toMatch(
      /^query refused: the info\(\) function is not supported/,
    );
    expect(await refused(`/api/v1/series?match[]=${enc('rate(up[1m])')}`)).toEqual({
      status: 400,
      error: 'match[] refused: match[] must be a series selector such as metric{label="value"}, got "rate(up[1m])"',
    });
  });

  it('what Prometheus itself refuses comes back as its 4xx', async () => {
    const a = await refused(`/api/v1/query_range?query=up&start=10&end=0&step=1`);
    expect(a.status).toBe(400);
    expect(a.error).toContain('end timestamp must not be before start time');
  });
});

describe('limits', () => {
  it('query length and body size', async () => {
    const p = await proxyWith({ limits: { maxQueryLength: 300, maxBodyBytes: 2048 } });
    const long = await call(p.url, '/api/v1/query', {
      token: bench.attacker.token,
      form: new URLSearchParams({ query: `up${' '.repeat(400)}` }),
    });
    expect([long.status, (long.json as { error: string }).error]).toEqual([
      400,
      'query refused: the expression is 402 characters long; the limit is 300',
    ]);
    const big = await call(p.url, '/api/v1/query', { token: bench.attacker.token, form: `query=up&pad=${'x'.repeat(3000)}` });
    expect([big.status, (big.json as { error: string }).error]).toEqual([413, 'the request body is larger than 2048 bytes']);
    const scrape = parseMetrics(await (await fetch(`${p.metricsUrl}/metrics`)).text());
    expect(valueOf(scrape, 'ct_tenant_proxy_rejected_queries_total', { client: bench.attacker.slug, reason: 'too_long' })).toBe(1);
    expect(
      valueOf(scrape, 'ct_tenant_proxy_requests_total', { client: bench.attacker.slug, endpoint: 'query', outcome: 'too_large' }),
    ).toBe(1);
  });

  it('a query longer than the timeout is answered 422, and the client cap answers 429 beyond its line', async () => {
    const p = await proxyWith({ limits: { timeoutSeconds: 1, maxConcurrent: 1, maxQueued: 1 } });
    // No selector needed to be slow: a subquery of a million steps.
    const slow = `count_over_time(vector(1)[2h:1ms])`;
    const go = (token: string) => call(p.url, '/api/v1/query', { token, form: new URLSearchParams({ query: slow }) });
    const started = Date.now();
    const [a, b, c, other] = await Promise.all([
      go(bench.attacker.token),
      go(bench.attacker.token),
      go(bench.attacker.token),
      go(bench.victims[0]!.token),
    ]);
    const statuses = [a, b, c].map((x) => x.status).sort();
    // One runs, one waits its turn (then runs), the third finds the line full. Another client is not held up.
    expect(statuses).toEqual([422, 422, 429]);
    expect(other.status).toBe(422);
    const limited = [a, b, c].find((x) => x.status === 429)!;
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((limited.json as { error: string }).error).toMatch(/too many queries at once/);
    expect((a.status === 422 ? a : b).json).toMatchObject({
      errorType: 'timeout',
      error: "the query took longer than 1s (the proxy's limit); narrow it",
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    const scrape = parseMetrics(await (await fetch(`${p.metricsUrl}/metrics`)).text());
    expect(
      valueOf(scrape, 'ct_tenant_proxy_requests_total', { client: bench.attacker.slug, endpoint: 'query', outcome: 'rate_limited' }),
    ).toBe(1);
    expect(valueOf(scrape, 'ct_tenant_proxy_requests_total', { client: bench.attacker.slug, endpoint: 'query', outcome: 'timeout' })).toBe(
      2,
    );
    expect(valueOf(scrape, 'ct_tenant_proxy_in_flight_requests', { client: bench.attacker.slug })).toBe(0);
  }, 30_000);

  it('an unreachable Prometheus is a 502, not a hang', async () => {
    const p = await proxyWith({ prometheusUrl: `http://127.0.0.1:${await freePort()}` });
    const a = await call(p.url, '/api/v1/query?query=up', { token: bench.attacker.token });
    expect([a.status, (a.json as { error: string }).error]).toEqual([502, 'Prometheus is unreachable']);
  });
});

describe('its own metrics', () => {
  it('counts requests by client and outcome, refusals by reason, the added latency; promtool finds nothing', async () => {
    await asAlpha(`/api/v1/query?query=${enc('ct_client_hours_saved')}`);
    await asAlpha(`/api/v1/query?query=${enc('sum(')}`);
    await call(bench.proxy.url, '/api/v1/query?query=up', { token: null });
    const text = await (await fetch(`${bench.proxy.metricsUrl}/metrics`)).text();
    const scrape = parseMetrics(text);
    expect(
      valueOf(scrape, 'ct_tenant_proxy_requests_total', { client: bench.attacker.slug, endpoint: 'query', outcome: 'ok' }),
    ).toBeGreaterThan(0);
    expect(
      valueOf(scrape, 'ct_tenant_proxy_requests_total', { client: 'unknown', endpoint: 'query', outcome: 'unauthorized' }),
    ).toBeGreaterThan(0);
    expect(
      valueOf(scrape, 'ct_tenant_proxy_rejected_queries_total', { client: bench.attacker.slug, reason: 'parse_error' }),
    ).toBeGreaterThan(0);
    expect(valueOf(scrape, 'ct_tenant_proxy_added_latency_seconds_count', { endpoint: 'query' })).toBeGreaterThan(0);
    expect(valueOf(scrape, 'ct_tenant_proxy_process_resident_memory_bytes')).toBeGreaterThan(0);
    // No series of the proxy's own answers a client's question: it is on its own port.
    expect((await asAlpha('/metrics')).status).toBe(403);
    expect(execFileSync('promtool', ['check', 'metrics'], { input: text }).toString()).toBe('');
    expect((await (await fetch(`${bench.proxy.metricsUrl}/healthz`)).json()) as object).toEqual({ status: 'ok' });
  });
});

describe('the commands', () => {
  const env = () => ({ ...process.env, DATABASE_URL: bench.db.url, LOG_LEVEL: 'warn' });

  it('ct portal token prints a new token once; the previous ends now or after --grace', async () => {
    const slug = bench.victims[1]!.slug;
    const before = bench.victims[1]!.token;
    const r = await runCt(['portal', 'token', slug, '--grace', '10m'], { env: env() });
    expect(r.code).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^ctp_[A-Za-z0-9_-]{43}$/);
    expect(r.stderr).toMatch(new RegExp(`^issued portal token version \\d+ for ${slug}; the previous token works until \\d{4}-`));
    expect(r.stderr).not.toContain(token);
    expect(await verifyPortalToken(bench.db.appPool, before)).toMatchObject({ slug });
    const again = await runCt(['portal', 'token', slug], { env: env() });
    expect(again.stderr).toContain('the previous token no longer works');
    expect(await verifyPortalToken(bench.db.appPool, token)).toBeNull();
    expect(await verifyPortalToken(bench.db.appPool, before)).toBeNull();
    bench.victims[1]!.token = again.stdout.trim();
    const { rows } = await bench.db.pool.query<{ actor: string }>(
      `SELECT DISTINCT actor FROM audit_logs WHERE action LIKE 'client.portal_token.%' AND actor LIKE 'cli:%'`,
    );
    expect(rows).toHaveLength(1);
  });

  it('ct portal token refuses an unknown client and a bad --grace, by name', async () => {
    const a = await runCt(['portal', 'token', 'nobody-here'], { env: env() });
    expect([a.code, a.stderr.trim()]).toEqual([1, 'ct: no client with slug "nobody-here"']);
    const b = await runCt(['portal', 'token', bench.attacker.slug, '--grace', 'later'], { env: env() });
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain('--grace must be a duration like 30s, 15m, 24h or 7d, got later');
    const c = await runCt(['portal', 'token', bench.attacker.slug], { env: { ...env(), SECRETS_KEY: '' } });
    expect([c.code, c.stderr]).toEqual([78, expect.stringContaining('SECRETS_KEY: is required but not set')]);
  });

  it('ct serve tenant-proxy serves the API and its metrics until SIGTERM; a missing PROMETHEUS_URL is named', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const child = spawn(process.execPath, [CT_BIN, 'serve', 'tenant-proxy', '--port', String(port)], {
      env: { ...env(), PROMETHEUS_URL: bench.prometheus.url, TENANT_PROXY_METRICS_PORT: String(metricsPort), SECRETS_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const deadline = Date.now() + 20_000;
      while ((await fetch(`http://127.0.0.1:${metricsPort}/healthz`).catch(() => null))?.status !== 200) {
        if (Date.now() > deadline) throw new Error('ct serve tenant-proxy did not start');
        await new Promise((r) => setTimeout(r, 200));
      }
      const a = await call(`http://127.0.0.1:${port}`, '/api/v1/label/client/values', { token: bench.attacker.token });
      expect(a.json).toEqual({ status: 'success', data: [bench.attacker.slug] });
    } finally {
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    const bad = await runCt(['serve', 'tenant-proxy'], { env: { ...env(), PROMETHEUS_URL: '' } });
    expect([bad.code, bad.stderr]).toEqual([78, expect.stringContaining('PROMETHEUS_URL: is required but not set')]);
  }, 40_000);
});
