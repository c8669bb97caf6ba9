import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { createLogger, keyringFromConfig, loadConfig } from '@ct/lib';
import { issuePortalToken, startTenantProxy, type RunningTenantProxy } from '@ct/client-portal';
import { freePort, httpStatus, killGroup, spawnDaemon, waitFor } from '../bench/process';
import { startPrometheus, type PrometheusService } from '../bench/services';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

/**
 * Step 1 of docs/scaling.md, for real: prometheus.yml with deploy/scale/prometheus-remote-write.yml
 * passes promtool; a Prometheus with that block streams what it scrapes to a remote-write receiver
 * serving the Prometheus API under /prometheus, as Mimir does; and the tenant proxy, pointed at
 * that path, serves each client its own series from it.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const BLOCK = parse(readFileSync(path.join(ROOT, 'deploy', 'scale', 'prometheus-remote-write.yml'), 'utf8')) as {
  remote_write: { url: string }[];
};

let dir: string;
let target: http.Server;
let sender: PrometheusService | undefined;
let receiverPid: number | undefined;
let receiverUrl: string;
let db: TestDatabase;
let proxy: RunningTenantProxy | undefined;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-remote-write-'));
  // What the platform's exporters look like to Prometheus: series of two clients.
  target = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end('# TYPE ct_client_info gauge\nct_client_info{client="pizza-shop"} 1\nct_client_info{client="plumber"} 2\n');
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));

  // The receiver: the Prometheus API under /prometheus, as Mimir serves it.
  const port = await freePort();
  mkdirSync(path.join(dir, 'receiver'));
  writeFileSync(path.join(dir, 'receiver', 'prometheus.yml'), 'global:\n  scrape_interval: 1m\nscrape_configs: []\n');
  const logFile = path.join(dir, 'receiver', 'prometheus.log');
  receiverPid = spawnDaemon(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'receiver', 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'receiver', 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.route-prefix=/prometheus',
      '--web.enable-remote-write-receiver',
      '--log.level=warn',
    ],
    { logFile },
  );
  receiverUrl = `http://127.0.0.1:${port}/prometheus`;
  await waitFor('the receiving Prometheus', async () => (await httpStatus(`${receiverUrl}/-/ready`)) === 200, {
    timeoutMs: 20_000,
    logFile,
    pid: receiverPid,
  });

  // The sender: the documented block, its URL pointed at the receiver's write endpoint.
  const remoteWrite = BLOCK.remote_write.map((rw) => ({ ...rw, url: `${receiverUrl}/api/v1/write` }));
  sender = await startPrometheus(dir, {
    name: 'sender',
    config: stringify({
      global: { scrape_interval: '1s' },
      scrape_configs: [
        { job_name: 'ct_exporters', static_configs: [{ targets: [`127.0.0.1:${(target.address() as AddressInfo).port}`] }] },
      ],
      remote_write: remoteWrite,
    }),
  });

  db = await createTestDatabase({ prefix: 'remote_write' });
  const keyring = keyringFromConfig(loadConfig(['secrets']));
  for (const slug of ['pizza-shop', 'plumber']) {
    await db.pool.query('INSERT INTO clients (slug, name) VALUES ($1, $2)', [slug, slug]);
    tokens[slug] = (await issuePortalToken(db.pool, keyring, slug, { actor: { actor: 'test' } })).token;
  }
  proxy = await startTenantProxy({
    pool: db.appPool,
    prometheusUrl: receiverUrl,
    logger: createLogger({ level: 'silent' }),
    port: 0,
    metricsPort: 0,
  });
}, 90_000);

afterAll(async () => {
  await proxy?.stop();
  await sender?.stop();
  if (receiverPid) await killGroup(receiverPid);
  await new Promise((r) => target?.close(r));
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

it('prometheus.yml with the remote-write block passes promtool check config', () => {
  const checkDir = path.join(dir, 'check');
  mkdirSync(checkDir);
  const merged = { ...(parse(readFileSync(path.join(ROOT, 'prometheus.yml'), 'utf8')) as object), ...BLOCK };
  writeFileSync(path.join(checkDir, 'prometheus.yml'), stringify(merged));
  // rule_files are relative to the configuration's folder, as in the repository.
  symlinkSync(path.join(ROOT, 'alerting'), path.join(checkDir, 'alerting'));
  expect(() => execFileSync('promtool', ['check', 'config', path.join(checkDir, 'prometheus.yml')], { stdio: 'pipe' })).not.toThrow();
});

it('streams what Prometheus scrapes to the receiver, and the tenant proxy serves each client its own from there', async () => {
  const query = async (slug: string) => {
    const res = await fetch(`${proxy!.url}/api/v1/query?query=${encodeURIComponent('ct_client_info')}`, {
      headers: { Authorization: `Bearer ${tokens[slug]}` },
    });
    const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    return body.data.result.map((r) => ({ client: r.metric.client, value: r.value[1] }));
  };
  await waitFor('samples written to the receiver', async () => (await query('pizza-shop')).length > 0, { timeoutMs: 30_000 });
  expect(await query('pizza-shop')).toEqual([{ client: 'pizza-shop', value: '1' }]);
  expect(await query('plumber')).toEqual([{ client: 'plumber', value: '2' }]);
  // The receiver holds both clients' series: the confinement is the proxy's.
  const direct = (await (await fetch(`${receiverUrl}/api/v1/query?query=ct_client_info`)).json()) as { data: { result: unknown[] } };
  expect(direct.data.result).toHaveLength(2);
});
