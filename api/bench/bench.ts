/**
 * `npm run bench:api`: throughput and latency of the platform API on this machine.
 *   1. GET /api/clients (page of 50) at 200 requests/s: as autocannon sends them (each second's 200
 *      in a burst over 10 connections; target p99 < 50 ms), then paced one every 5 ms by loadtest
 *      (target p99 < 10 ms), with the share answered within 5 and 10 ms inside the API, and the
 *      floor of that measurement: the same page from a bare node:http server, paced the same way.
 *   2. At each concurrency of BENCH_API_CONNECTIONS (default 1, 16 and 64):
 *      a. signed webhook posts: durable events/s (target ≥ 1,000), counted as rows committed in
 *         activity_events, with fsync on; events per INSERT (group commit) and CPU per event;
 *      b. the ceiling: the same signed posts to the same API built without the database write
 *         (api/bench/no-write-server.ts), the most one Node.js process serves here; and the floor
 *         of Node's HTTP alone: a bare node:http server answering 201 to the same posts;
 *      c. pgbench single-row inserts on the same cluster at the same concurrency: the webhook
 *         ingest rate (and the ceiling) are printed as ratios of it.
 * Scale with BENCH_API_CLIENTS (seeded clients, default 1000), BENCH_API_SECONDS (per phase, default
 * 20) and BENCH_API_CONNECTIONS (comma-separated concurrencies, default 1,16,64).
 * BENCH_API_PROFILE=1 adds a CPU profile (node --cpu-prof) of the API, and of the no-write API,
 * under the webhook load at 16 connections (BENCH_API_PROFILE_CONNECTIONS), summarised by category;
 * the .cpuprofile files are kept in BENCH_API_PROFILE_DIR (default: the working directory).
 * BENCH_API_BASELINE=<another built checkout> also runs its `ct serve api` through the same paced
 * reads and webhook phases, on the same cluster, for a before/after in one run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { createPool, migrate, withTransaction, type Pool } from '@ct/lib';
import { createApiKey, signWebhook } from '@ct/api';
import { INSERT_BATCH } from '../src/event-batcher';
import { startPostgres } from '../../test/bench/services';
import { freePort, httpStatus, waitFor } from '../../test/bench/process';
import { formatProfile, summariseProfile } from './cpu-profile';

const CLIENTS = Number(process.env.BENCH_API_CLIENTS ?? 1000);
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 20);
const CONNECTIONS = (process.env.BENCH_API_CONNECTIONS ?? '1,16,64').split(',').map(Number);
const PROFILE = process.env.BENCH_API_PROFILE === '1';
const PROFILE_CONNECTIONS = Number(process.env.BENCH_API_PROFILE_CONNECTIONS ?? 16);
const PROFILE_DIR = path.resolve(process.env.BENCH_API_PROFILE_DIR ?? '.');
const BASELINE = process.env.BENCH_API_BASELINE ? path.resolve(process.env.BENCH_API_BASELINE) : undefined;
const WARMUP_SECONDS = 2;
const ROOT = path.resolve(__dirname, '..', '..');
const TICK_MS = 10; // /proc/<pid>/stat counts in clock ticks of 1/100 s (USER_HZ on Linux)

/** CPU time (ms) of a process's threads, from the scheduler's own accounting. */
function cpuOf(pid: number): number {
  let ms = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ms += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
    } catch {
      /* the thread ended */
    }
  }
  return ms;
}
/** utime+stime (and, with children, the reaped children's cutime+cstime), ms. */
function statTimes(pid: number, children: boolean): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ')
    .map(Number);
  // After the ")" field 3 is state: utime is field 14, stime 15, cutime 16, cstime 17 (1-based).
  const [utime, stime, cutime, cstime] = [fields[11]!, fields[12]!, fields[13]!, fields[14]!];
  return (utime + stime + (children ? cutime + cstime : 0)) * TICK_MS;
}
/** CPU (ms) of PostgreSQL: the postmaster, its live backends and the backends that have ended. */
function postgresCpu(postmaster: number): number {
  let ms = statTimes(postmaster, true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.replace(/^.*\) /, '').split(' ')[1]) === postmaster) ms += statTimes(Number(entry), false);
    } catch {
      /* gone */
    }
  }
  return ms;
}

interface ApiProcess {
  /** When it was started (Date.now()): its CPU profile starts then. */
  startedAt: number;
  url: string;
  internalUrl: string;
  pid: number;
  /** SIGTERM, then waits for the exit (a CPU profile is written then). */
  stop(): Promise<void>;
}

interface UniformLoadResult {
  effectiveRps: number;
  totalErrors: number;
  maxLatencyMs: number;
  /** Milliseconds (whole) by percentile: 50, 90, 95, 99. */
  percentiles: Record<number, number>;
}

/** loadtest (an ES module) with requests sent at a fixed rate whatever the answers' pace. */
async function uniformLoad(options: Record<string, unknown>): Promise<UniformLoadResult> {
  const { loadTest } = (await import('loadtest')) as unknown as { loadTest: (o: Record<string, unknown>) => Promise<UniformLoadResult> };
  return loadTest(options);
}

/** `target` paced at 200 requests/s for SECONDS, one every 5 ms, over up to 10 keep-alive connections. */
function pace(target: { url: string; headers?: Record<string, string> }): Promise<UniformLoadResult> {
  return uniformLoad({ ...target, requestsPerSecond: 200, concurrency: 10, maxSeconds: SECONDS, agentKeepAlive: true, quiet: true });
}

/** Starts a server process; `args` are node's arguments, given the public port to listen on. */
async function startApiProcess(args: (port: number) => string[], env: NodeJS.ProcessEnv, logFile: string): Promise<ApiProcess> {
  const port = await freePort();
  const internalPort = await freePort();
  const startedAt = Date.now();
  const child: ChildProcess = spawn(process.execPath, args(port), {
    cwd: ROOT,
    env: { ...env, API_INTERNAL_PORT: String(internalPort) },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const internalUrl = `http://127.0.0.1:${internalPort}`;
  await waitFor(args(port).join(' '), async () => (await httpStatus(`${internalUrl}/readyz`)) === 200, {
    timeoutMs: 30_000,
    logFile,
    pid: child.pid,
  });
  return {
    startedAt,
    url: `http://127.0.0.1:${port}`,
    internalUrl,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function runPgbench(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const pgbench = path.join(process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin', 'pgbench');
    const child = spawn(pgbench, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench exited ${code}: ${err.slice(-500)}`))));
  });
}

async function histogram(internalUrl: string, name: string): Promise<{ sum: number; count: number }> {
  const text = await fetch(`${internalUrl}/metrics`).then((r) => r.text());
  const value = (suffix: string) => Number(new RegExp(`^${name}_${suffix} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { sum: value('sum'), count: value('count') };
}

/** The API's garbage collections so far, by kind (prom-client's runtime metrics): count and seconds paused. */
async function gcPauses(internalUrl: string): Promise<Map<string, { count: number; seconds: number }>> {
  const text = await fetch(`${internalUrl}/metrics`).then((r) => r.text());
  const out = new Map<string, { count: number; seconds: number }>();
  for (const m of text.matchAll(/^ct_api_nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} (\S+)$/gm)) {
    const entry = out.get(m[2]!) ?? { count: 0, seconds: 0 };
    if (m[1] === 'sum') entry.seconds = Number(m[3]);
    else entry.count = Number(m[3]);
    out.set(m[2]!, entry);
  }
  return out;
}

/** What changed between two gcPauses readings over `seconds` of wall time, as one line. */
function describeGc(before: Map<string, { count: number; seconds: number }>, after: typeof before, seconds: number): string {
  let paused = 0;
  const kinds = [...after].map(([kind, a]) => {
    const b = before.get(kind) ?? { count: 0, seconds: 0 };
    const ms = 1000 * (a.seconds - b.seconds);
    paused += ms;
    const n = a.count - b.count;
    return `${n} ${kind} (${ms.toFixed(0)} ms${n ? `, ${(ms / n).toFixed(1)} ms each` : ''})`;
  });
  return `${kinds.join(', ')}: paused ${(paused / (10 * seconds)).toFixed(2)} % of the time`;
}

interface Row {
  connections: number;
  eventsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  perStatement: number;
  apiCpuPerEvent: number;
  cores: { api: number; postgres: number; loadgen: number };
  ceiling: number;
  ceilingCpuPerPost: number;
  baseline?: number;
  bare: number;
  tps: number;
  /** pgbench running the webhook path's own statement, one event per transaction. */
  apiWriteTps: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ct-bench-api-'));
  const pg = await startPostgres(dir);
  const pool: Pool = createPool({ url: pg.url, max: 4 });
  const apis: ApiProcess[] = [];
  try {
    // Durable: the bench cluster runs with fsync off; this measurement turns it back on.
    await pool.query('ALTER SYSTEM SET fsync = on');
    await pool.query('ALTER SYSTEM SET full_page_writes = on');
    await pool.query('SELECT pg_reload_conf()');
    await migrate(pool);
    const key = await withTransaction(pool, (tx) =>
      createApiKey(tx, { name: 'bench', scopes: ['admin'], owner: 'bench' }, { actor: 'bench' }),
    ).then((k) => k.key);
    await pool.query(
      `INSERT INTO clients (slug, name) SELECT 'client-' || lpad(g::text, 5, '0'), 'Client ' || g FROM generate_series(1, $1) g`,
      [CLIENTS],
    );
    const env = {
      ...process.env,
      DATABASE_URL: pg.url,
      DATABASE_POOL_MAX: '20',
      SECRETS_KEY: 'bench-only-secrets-key-0123456789abcdef',
      API_JWT_SECRET: 'bench-only-jwt-secret-0123456789abcdef',
      API_RATE_LIMIT_PER_KEY: '100000000',
      API_RATE_LIMIT_PER_IP: '100000000',
      API_WEBHOOK_RATE_LIMIT: '100000000',
      N8N_URL: process.env.N8N_URL ?? 'http://127.0.0.1:9',
      N8N_API_KEY: process.env.N8N_API_KEY ?? 'unused-by-this-benchmark',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    };
    const logFile = path.join(dir, 'api.log');
    const ctServeApi = (port: number) => [path.join(ROOT, 'cli', 'bin', 'ct.js'), 'serve', 'api', '--port', String(port)];
    const noWriteServer = ['--import', 'tsx', path.join(__dirname, 'no-write-server.ts')];
    const noWriteApi = (port: number) => [...noWriteServer, String(port)];
    const api = await startApiProcess(ctServeApi, env, logFile);
    apis.push(api);
    const baseline = BASELINE
      ? await startApiProcess((port) => [path.join(BASELINE, 'cli', 'bin', 'ct.js'), 'serve', 'api', '--port', String(port)], env, logFile)
      : undefined;
    if (baseline) apis.push(baseline);
    const url = api.url;

    // A client with a webhook secret, through the API as an operator would.
    const created = await fetch(`${url}/api/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'bench-hook', name: 'Bench webhook client' }),
    }).then((r) => r.json() as Promise<{ client: { id: string }; webhookSecret: string }>);

    // ---------------------------------------------------------------- 1. reads
    const read = { url: `${url}/api/clients`, headers: { authorization: `Bearer ${key}` } };
    await autocannon({ ...read, connections: 10, duration: 3 }); // warm-up
    const reads = await autocannon({
      ...read,
      connections: 10,
      overallRate: 200,
      duration: SECONDS,
    });

    // autocannon's rate limit lets each connection send its quota for the second back to back and
    // then wait: the phase above is a burst of 200 requests over 10 connections at the top of every
    // second. loadtest paces its requests one every 5 ms (open loop), as 200 requests/s arrive.
    const requestSeconds = async () => {
      const text = await (await fetch(`${api.internalUrl}/metrics`)).text();
      const re = /^ct_api_request_duration_seconds_bucket\{le="([^"]+)",method="GET",route="\/api\/clients\/?",status="200"\} (\d+)$/gm;
      return new Map([...text.matchAll(re)].map((m) => [m[1]!, Number(m[2])]));
    };
    const before = await requestSeconds();
    const gcBefore = await gcPauses(api.internalUrl);
    const paced = await pace(read);
    const after = await requestSeconds();
    const pacedGc = describeGc(gcBefore, await gcPauses(api.internalUrl), SECONDS);
    const served = (le: string) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
    const serverShare = (le: string) => served(le) / served('+Inf');
    // The baseline checkout, right after and paced the same way (warmed up as the API was).
    let pacedBaseline: UniformLoadResult | undefined;
    let pacedBaselineGc = '';
    if (baseline) {
      const baselineRead = { ...read, url: `${baseline.url}/api/clients` };
      await autocannon({ ...baselineRead, connections: 10, duration: 3 });
      await autocannon({ ...baselineRead, connections: 10, overallRate: 200, duration: SECONDS });
      const baselineGc = await gcPauses(baseline.internalUrl);
      pacedBaseline = await pace(baselineRead);
      pacedBaselineGc = describeGc(baselineGc, await gcPauses(baseline.internalUrl), SECONDS);
    }

    // The floor of that measurement: the same page from a bare node:http server in its own process,
    // paced the same way (what loadtest, Node's HTTP and this machine add by themselves).
    const pageFile = path.join(dir, 'clients-page.json');
    writeFileSync(pageFile, await (await fetch(read.url, { headers: read.headers })).text());
    const bareServer = await startApiProcess(
      (port) => [...noWriteServer, String(port), 'bare'],
      { ...env, BENCH_BARE_GET_BODY: pageFile },
      logFile,
    );
    apis.push(bareServer);
    const pacedBare = await pace({ url: `${bareServer.url}/api/clients` });

    // ---------------------------------------------------------------- 2. webhook ingest, ceiling, pgbench
    const secret = created.webhookSecret;
    const sign = (req: { body?: unknown; headers?: Record<string, string> }) => {
      const body = JSON.stringify({ id: randomUUID(), type: 'lead.captured', data: { source: 'bench', value: 42 } });
      return { ...req, body, headers: { ...req.headers, 'content-type': 'application/json', ...signWebhook(secret, body) } };
    };
    const hooks = (base: string, connections: number, duration: number) =>
      autocannon({
        url: `${base}/api/webhooks/n8n/bench-hook`,
        method: 'POST',
        connections,
        duration,
        requests: [{ setupRequest: sign as never }],
      });
    const count = async () => Number((await pool.query('SELECT count(*) AS n FROM activity_events')).rows[0].n);
    const noWrite = await startApiProcess(noWriteApi, env, logFile);
    apis.push(noWrite);
    await pool.query('CREATE TABLE bench_inserts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, details jsonb NOT NULL)');
    const script = path.join(dir, 'insert.sql');
    writeFileSync(script, `INSERT INTO bench_inserts (details) VALUES ('{"source":"bench","value":42}');\n`);
    // The API's own write, one event per transaction as at one connection: what PostgreSQL alone
    // gives the webhook path's statement (indexes, the counters' trigger, the record of changes).
    const apiWriteScript = path.join(dir, 'api-insert.sql');
    const literals: Record<string, string> = {
      '$1::uuid[]': `ARRAY['${created.client.id}']::uuid[]`,
      '$2::text[]': `ARRAY['lead.captured']::text[]`,
      '$3::text[]': 'ARRAY[NULL]::text[]',
      '$4::text[]': `ARRAY['{"source":"bench","value":42}']::text[]`,
      '$5::text[]': 'ARRAY[gen_random_uuid()::text]::text[]',
    };
    writeFileSync(apiWriteScript, `${INSERT_BATCH.replace(/\$[1-5]::(?:uuid|text)\[\]/g, (p) => literals[p]!)};\n`);

    const rows: Row[] = [];
    for (const connections of CONNECTIONS) {
      // a. the API, writing
      await hooks(url, connections, WARMUP_SECONDS);
      const before = await count();
      const batches0 = await histogram(api.internalUrl, 'ct_webhook_batch_events');
      const cpu0 = { api: cpuOf(api.pid), postgres: postgresCpu(pg.pid), loadgen: cpuOf(process.pid) };
      const run = await hooks(url, connections, SECONDS);
      const cpu1 = { api: cpuOf(api.pid), postgres: postgresCpu(pg.pid), loadgen: cpuOf(process.pid) };
      const batches1 = await histogram(api.internalUrl, 'ct_webhook_batch_events');
      const stored = (await count()) - before;
      // the baseline checkout, same load
      let baselineRate: number | undefined;
      if (baseline) {
        await hooks(baseline.url, connections, WARMUP_SECONDS);
        const n0 = await count();
        await hooks(baseline.url, connections, SECONDS);
        baselineRate = ((await count()) - n0) / SECONDS;
      }
      // b. the ceiling: the same API without the write
      await hooks(noWrite.url, connections, WARMUP_SECONDS);
      const ceilingCpu0 = cpuOf(noWrite.pid);
      const ceiling = await hooks(noWrite.url, connections, SECONDS);
      const ceilingCpu = cpuOf(noWrite.pid) - ceilingCpu0;
      // the floor: Node's HTTP alone
      await hooks(bareServer.url, connections, WARMUP_SECONDS);
      const bare = (await hooks(bareServer.url, connections, SECONDS))['2xx'] / SECONDS;
      // c. pgbench on the same cluster: single-row inserts, then the API's own statement
      const pgbench = (file: string) =>
        runPgbench([
          '-n',
          '-h',
          '127.0.0.1',
          '-p',
          String(pg.port),
          '-U',
          'postgres',
          '-c',
          String(connections),
          '-j',
          String(Math.min(connections, 2)),
          '-T',
          String(SECONDS),
          '-f',
          file,
          'ct',
        ]);
      const tpsOf = (out: string) => Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN);
      const out = await pgbench(script);
      const apiWriteTps = tpsOf(await pgbench(apiWriteScript));
      const elapsed = SECONDS * 1000;
      rows.push({
        connections,
        eventsPerSecond: stored / SECONDS,
        p50: run.latency.p50,
        p99: run.latency.p99,
        non2xx: run.non2xx,
        errors: run.errors,
        perStatement: (batches1.sum - batches0.sum) / Math.max(1, batches1.count - batches0.count),
        apiCpuPerEvent: (cpu1.api - cpu0.api) / Math.max(1, stored),
        cores: {
          api: (cpu1.api - cpu0.api) / elapsed,
          postgres: (cpu1.postgres - cpu0.postgres) / elapsed,
          loadgen: (cpu1.loadgen - cpu0.loadgen) / elapsed,
        },
        ceiling: ceiling['2xx'] / SECONDS,
        ceilingCpuPerPost: ceilingCpu / Math.max(1, ceiling['2xx']),
        baseline: baselineRate,
        bare,
        tps: tpsOf(out),
        apiWriteTps,
      });
    }

    // ---------------------------------------------------------------- 3. CPU profiles (BENCH_API_PROFILE=1)
    const profiles: string[] = [];
    if (PROFILE) {
      mkdirSync(PROFILE_DIR, { recursive: true });
      for (const [name, args] of [
        ['api', ctServeApi],
        ['no-write-api', noWriteApi],
      ] as const) {
        const profDir = path.join(dir, `prof-${name}`);
        const profiled = await startApiProcess((port) => ['--cpu-prof', `--cpu-prof-dir=${profDir}`, ...args(port)], env, logFile);
        try {
          await hooks(profiled.url, PROFILE_CONNECTIONS, WARMUP_SECONDS);
          const fromMs = Date.now() - profiled.startedAt;
          const answered = (await hooks(profiled.url, PROFILE_CONNECTIONS, SECONDS))['2xx'];
          const toMs = Date.now() - profiled.startedAt;
          await profiled.stop();
          const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
          if (!file) throw new Error(`no CPU profile was written for ${name}`);
          const kept = path.join(PROFILE_DIR, `bench-api-${name}.cpuprofile`);
          writeFileSync(kept, readFileSync(path.join(profDir, file)));
          profiles.push(
            `${name === 'api' ? 'ct serve api' : 'the no-write API'}, ${PROFILE_CONNECTIONS} connections, ${answered} posts answered 2xx (${kept}):\n${formatProfile(summariseProfile(kept, { fromMs, toMs }), answered)}`,
          );
        } finally {
          await profiled.stop();
        }
      }
    }

    const ms = (v: number) => `${v.toFixed(1)} ms`;
    const n0 = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: 0 });
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const lines = [
      `CT API benchmark — ${new Date().toISOString()} — ${CLIENTS} clients, ${SECONDS}s per phase, fsync on, load average ${load}`,
      `GET /api/clients (page of 50) at 200 req/s, 10 connections: ${reads.requests.average.toFixed(0)} req/s, p50 ${ms(reads.latency.p50)}, p99 ${ms(reads.latency.p99)}, errors ${reads.errors + reads.non2xx} (target p99 < 50 ms: ${reads.latency.p99 < 50 ? 'met' : 'NOT met'})`,
      `GET /api/clients paced at one request every 5 ms (loadtest, open loop): ${paced.effectiveRps} req/s, p50 ${ms(paced.percentiles[50]!)}, p90 ${ms(paced.percentiles[90]!)}, p99 ${ms(paced.percentiles[99]!)}, max ${ms(paced.maxLatencyMs)}, errors ${paced.totalErrors} (target p99 < 10 ms: ${paced.percentiles[99]! < 10 ? 'met' : 'NOT met'}); inside the API: ${(100 * serverShare('0.005')).toFixed(1)} % within 5 ms, ${(100 * serverShare('0.01')).toFixed(1)} % within 10 ms`,
      `  the API's garbage collections meanwhile: ${pacedGc}`,
      `  its floor, the same page from a bare node:http server paced the same way: p50 ${ms(pacedBare.percentiles[50]!)}, p90 ${ms(pacedBare.percentiles[90]!)}, p99 ${ms(pacedBare.percentiles[99]!)}, max ${ms(pacedBare.maxLatencyMs)}, errors ${pacedBare.totalErrors}`,
      ...(pacedBaseline
        ? [
            `  before (${BASELINE}), right after it and paced the same way: p50 ${ms(pacedBaseline.percentiles[50]!)}, p90 ${ms(pacedBaseline.percentiles[90]!)}, p99 ${ms(pacedBaseline.percentiles[99]!)}, max ${ms(pacedBaseline.maxLatencyMs)}, errors ${pacedBaseline.totalErrors}; its garbage collections: ${pacedBaselineGc}`,
          ]
        : []),
      '',
      '| connections | durable webhook events/s | p50 / p99 | non-2xx, errors | events per INSERT | API CPU per event | cores used: API / PostgreSQL / load generator | no-write API, posts/s | its CPU per post | bare node:http, posts/s | pgbench insert tps | **webhook ÷ pgbench** | no-write ÷ pgbench | bare ÷ pgbench | pgbench of the webhook statement, tps (÷ pgbench) | webhook ÷ it |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.connections} | ${n0(r.eventsPerSecond)} | ${ms(r.p50)} / ${ms(r.p99)} | ${r.non2xx}, ${r.errors} | ${r.perStatement.toFixed(1)} | ${(r.apiCpuPerEvent * 1000).toFixed(0)} µs | ${r.cores.api.toFixed(2)} / ${r.cores.postgres.toFixed(2)} / ${r.cores.loadgen.toFixed(2)} | ${n0(r.ceiling)} | ${(r.ceilingCpuPerPost * 1000).toFixed(0)} µs | ${n0(r.bare)} | ${n0(r.tps)} | **${(r.eventsPerSecond / r.tps).toFixed(2)}** | ${(r.ceiling / r.tps).toFixed(2)} | ${(r.bare / r.tps).toFixed(2)} | ${n0(r.apiWriteTps)} (${(r.apiWriteTps / r.tps).toFixed(2)}) | ${(r.eventsPerSecond / r.apiWriteTps).toFixed(2)} |`,
      ),
      '',
      ...rows.map(
        (r) =>
          `${r.connections} connections: ${n0(r.eventsPerSecond)} durable events/s (target ≥ 1000: ${r.eventsPerSecond >= 1000 ? 'met' : 'NOT met'}), ${(r.eventsPerSecond / r.tps).toFixed(2)}× pgbench (target ≥ 0.5: ${r.eventsPerSecond / r.tps >= 0.5 ? 'met' : 'NOT met'})`,
      ),
      ...(BASELINE
        ? [
            '',
            `before/after, durable webhook events/s (before: ${BASELINE}):`,
            ...rows.map(
              (r) =>
                `  ${r.connections} connections: before ${n0(r.baseline!)} (${(r.baseline! / r.tps).toFixed(2)}× pgbench), after ${n0(r.eventsPerSecond)} (${(r.eventsPerSecond / r.tps).toFixed(2)}×): ${(r.eventsPerSecond / r.baseline!).toFixed(2)}×`,
            ),
          ]
        : []),
      ...profiles.map((p) => `\n${p}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const a of apis) await a.stop().catch(() => undefined);
    await pool.end();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench:api failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
