import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, killGroup, spawnDaemon, waitFor } from '../bench/process';

/**
 * deploy/caddy/Caddyfile as Caddy itself runs it (Debian's caddy): the routing is the file's own,
 * only the addresses change. Sites are served over plain HTTP on a free port (an http:// site
 * address in the hostname variables, so no certificate is requested), the fixed listeners move
 * to free ports, and each upstream (grafana, api, n8n, notifier) is a local server that records
 * what reached it. Checks what the stack's exposure rests on: only n8n's webhook paths are public,
 * internal endpoints are never proxied, and the API sees the client's address, not a forged one.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const CADDYFILE = path.join(ROOT, 'deploy', 'caddy', 'Caddyfile');
const UPSTREAMS = ['grafana:3000', 'api:8080', 'n8n:5678', 'notifier:9465'] as const;

interface Seen {
  upstream: string;
  method: string;
  url: string;
  forwardedFor: string | undefined;
}

let dir: string;
let caddyPid: number | undefined;
let sitePort: number;
let editorPort: number;
let metricsPort: number;
const sinks: http.Server[] = [];
const seen: Seen[] = [];

/** Replaces `from` in the Caddyfile, which must occur exactly `times` times (so a change of the file fails here, loudly). */
function substitute(text: string, from: string, to: string, times = 1): string {
  const count = text.split(from).length - 1;
  if (count !== times) throw new Error(`deploy/caddy/Caddyfile: expected ${times} occurrence(s) of "${from}", found ${count}`);
  return text.split(from).join(to);
}

beforeAll(async () => {
  execFileSync('caddy', ['version'], { stdio: 'pipe' }); // the bench installs it (test/bench/install.ts)
  dir = mkdtempSync(path.join(tmpdir(), 'ct-caddy-'));
  let text = readFileSync(CADDYFILE, 'utf8');
  for (const upstream of UPSTREAMS) {
    const server = http.createServer((req, res) => {
      seen.push({
        upstream,
        method: req.method ?? '',
        url: req.url ?? '',
        forwardedFor: req.headers['x-forwarded-for'] as string | undefined,
      });
      req.resume();
      req.on('end', () => res.end(`from ${upstream}`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    sinks.push(server);
    text = substitute(
      text,
      `reverse_proxy ${upstream}`,
      `reverse_proxy 127.0.0.1:${(server.address() as AddressInfo).port}`,
      upstream === 'n8n:5678' ? 2 : 1,
    );
  }
  [sitePort, editorPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const adminPort = await freePort();
  text = substitute(text, 'admin localhost:2019', `admin localhost:${adminPort}`);
  text = substitute(text, 'http://:5678 {', `http://:${editorPort} {`);
  text = substitute(text, 'http://:9180 {', `http://:${metricsPort} {`);
  const config = path.join(dir, 'Caddyfile');
  writeFileSync(config, text);
  const logFile = path.join(dir, 'caddy.log');
  caddyPid = spawnDaemon('caddy', ['run', '--config', config, '--adapter', 'caddyfile'], {
    logFile,
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      XDG_DATA_HOME: path.join(dir, 'data'),
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      ACME_EMAIL: 'ops@agency.example',
      GRAFANA_PUBLIC_HOST: `http://grafana.agency.example:${sitePort}`,
      API_PUBLIC_HOST: `http://api.agency.example:${sitePort}`,
      N8N_PUBLIC_HOST: `http://n8n.agency.example:${sitePort}`,
    },
  });
  await waitFor('caddy', async () => (await request(editorPort, 'localhost', '/')).status > 0, {
    timeoutMs: 20_000,
    logFile,
    pid: caddyPid,
  });
}, 40_000);

afterAll(async () => {
  if (caddyPid !== undefined) await killGroup(caddyPid);
  await Promise.all(sinks.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

/** One request with the given Host header (fetch cannot set it); status 0 when nothing answers. */
function request(
  port: number,
  host: string,
  urlPath: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: opts.method ?? 'GET', headers: { host, ...opts.headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

/** Which upstream a request reached, or undefined when Caddy answered it itself. */
async function reached(host: string, urlPath: string, opts: { method?: string; headers?: Record<string, string> } = {}) {
  const before = seen.length;
  const res = await request(sitePort, `${host}:${sitePort}`, urlPath, opts);
  const hit = seen.slice(before).find((s) => s.url === urlPath);
  return { status: res.status, upstream: hit?.upstream, hit };
}

describe('n8n: only what clients call is public', () => {
  it.each(['/webhook/lead-form', '/webhook-test/lead-form', '/webhook-waiting/123', '/healthz'])('%s reaches n8n', async (p) => {
    expect(await reached('n8n.agency.example', p, { method: 'POST' })).toMatchObject({ status: 200, upstream: 'n8n:5678' });
  });

  it.each(['/', '/signin', '/rest/login', '/rest/executions/1/stop', '/api/v1/workflows', '/metrics', '/healthz/readiness', '/webhookx'])(
    '%s is answered 404 by Caddy and never reaches n8n',
    async (p) => {
      expect(await reached('n8n.agency.example', p)).toEqual({ status: 404, upstream: undefined, hit: undefined });
    },
  );

  it("the operator's editor port reaches all of n8n", async () => {
    const before = seen.length;
    const res = await request(editorPort, `localhost:${editorPort}`, '/rest/login');
    expect(res.status).toBe(200);
    expect(seen.slice(before).map((s) => s.upstream)).toEqual(['n8n:5678']);
  });
});

describe('Grafana and the API', () => {
  it('Grafana is proxied, its /metrics is not', async () => {
    expect(await reached('grafana.agency.example', '/api/health')).toMatchObject({ status: 200, upstream: 'grafana:3000' });
    expect(await reached('grafana.agency.example', '/metrics')).toEqual({ status: 404, upstream: undefined, hit: undefined });
  });

  it.each(['/metrics', '/metrics/', '/METRICS', '/Metrics/x', '/readyz', '/ReadyZ'])(
    'the API host answers %s itself with 404',
    async (p) => {
      expect(await reached('api.agency.example', p)).toEqual({ status: 404, upstream: undefined, hit: undefined });
    },
  );

  it('the API gets its routes, the notifier only Twilio status callbacks', async () => {
    expect(await reached('api.agency.example', '/api/clients')).toMatchObject({ status: 200, upstream: 'api:8080' });
    expect(await reached('api.agency.example', '/twilio/status', { method: 'POST' })).toMatchObject({
      status: 200,
      upstream: 'notifier:9465',
    });
    expect(await reached('api.agency.example', '/twilio/other', { method: 'POST' })).toMatchObject({ upstream: 'api:8080' });
    expect(await reached('api.agency.example', '/', { method: 'POST' })).toMatchObject({ upstream: 'api:8080' });
  });

  it("the API sees the caller's address: a forged X-Forwarded-For is not passed on (API_TRUST_PROXY=1 relies on it)", async () => {
    const { hit } = await reached('api.agency.example', '/api/auth/login', {
      method: 'POST',
      headers: { 'x-forwarded-for': '203.0.113.66' },
    });
    expect(hit?.forwardedFor).toBe('127.0.0.1');
  });

  it('an unknown host reaches no upstream', async () => {
    // Over HTTPS an unknown name gets no certificate; here (plain HTTP) Caddy answers it empty.
    const before = seen.length;
    await request(sitePort, `elsewhere.example:${sitePort}`, '/api/clients');
    expect(seen.length).toBe(before);
  });
});

it("serves Caddy's own metrics on its internal port", async () => {
  const res = await request(metricsPort, `caddy:${metricsPort}`, '/metrics');
  expect(res.status).toBe(200);
  expect(res.body).toMatch(/^caddy_/m);
});
