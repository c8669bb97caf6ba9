import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { isAlive, killGroup, sleep } from '../bench/process';
import { parseEnvFile } from '../bench/stack';

/**
 * `npm start` as a new user runs it, on a private bench (CT_BENCH_STATE_DIR): the bench comes up,
 * Prometheus scrapes every service started and loads alerting/rules, one alert goes end to end
 * into the SMTP sink, and stopping leaves no process behind.
 *
 * The alert: the production rules all wait minutes (`for:`) on conditions a test would have to
 * hold that long, so a test-only rule file (CT_START_EXTRA_RULES, loaded besides alerting/rules)
 * adds StartSmokeTest, firing at once while the notifier is scraped up. It is labelled
 * tier="email", so it travels the real path: Prometheus → the project's Alertmanager routing
 * tree and mail templates → SMTP.
 */
jest.setTimeout(900_000);

const ROOT = path.resolve(__dirname, '..', '..');
const RULES_DIR = path.join(ROOT, 'alerting', 'rules');
let dir: string;
let stateDir: string;
let start: ChildProcess | undefined;
let output = '';

/** The environment of a new user's shell: none of this test run's bench addresses. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(JEST|DATABASE_|PG|N8N_|PROMETHEUS_|ALERTMANAGER_|S3_|SMTP_|SINK_|REDIS_|CT_BENCH_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, CT_BENCH_STATE_DIR: stateDir, CT_START_EXTRA_RULES: path.join(dir, 'start-test-rules.yml') };
}

const benchEnv = () => ({
  ...parseEnvFile(readFileSync(path.join(stateDir, 'env'), 'utf8')),
  ...parseEnvFile(readFileSync(path.join(stateDir, 'platform.env'), 'utf8')),
});

async function until<T>(what: string, find: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const found = await find();
      if (found !== undefined) return found;
    } catch (err) {
      last = err;
    }
    if (start && start.exitCode !== null)
      throw new Error(`npm start exited (${start.exitCode}) while waiting for ${what}:\n${output.slice(-3000)}`);
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (${String(last)})` : ''}\n--- npm start said ---\n${output.slice(-3000)}`);
}

/** Stops what npm start started: the platform (its process group), then the private bench. */
async function stopAll(): Promise<{ pids: number[]; benchDir?: string }> {
  if (start?.pid) await killGroup(start.pid, 15_000);
  const state = existsSync(path.join(stateDir, 'state.json'))
    ? (JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as { dir: string; pids: Record<string, number> })
    : { dir: undefined, pids: {} };
  spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'bench', 'cli.ts'), 'down'], {
    env: { ...process.env, CT_BENCH_STATE_DIR: stateDir },
    stdio: 'ignore',
  });
  return { pids: Object.values(state.pids), benchDir: state.dir };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-start-'));
  stateDir = path.join(dir, 'state');
  writeFileSync(
    path.join(dir, 'start-test-rules.yml'),
    `groups:
  - name: start-smoke-test
    interval: 1s
    rules:
      - alert: StartSmokeTest
        expr: up{job="ct_notifier"} == 1
        labels: { tier: email, severity: low }
        annotations:
          summary: 'npm start smoke test'
          description: 'Fires while the notifier is scraped: proves the path from Prometheus to mail.'
          runbook_url: 'https://ct-platform.example/docs/runbooks.md'
`,
  );
});

afterAll(async () => {
  if (dir) {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('starts the whole platform, monitored and alerting, and stops without leaving a process', async () => {
  start = spawn('bash', [path.join(ROOT, 'scripts', 'start.sh')], {
    cwd: ROOT,
    env: userEnv(),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  start.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  start.stderr!.on('data', (d: Buffer) => (output += d.toString()));

  await until(
    'the "how to get in" block',
    async () => (output.includes('how to get in') && output.includes('admin key') ? true : undefined),
    600_000,
  );
  const env = benchEnv();
  // The one-time admin key works against the API it names.
  const key = /admin key\s+(\S+)/.exec(output)![1]!;
  expect(key).toMatch(/^ct_/);
  const clients = await until(
    'the API',
    async () => {
      const res = await fetch(`http://127.0.0.1:${env.API_PORT}/api/clients`, { headers: { Authorization: `Bearer ${key}` } });
      return res.status === 200 ? ((await res.json()) as unknown) : undefined;
    },
    120_000,
  );
  expect(JSON.stringify(clients)).toMatch(/Pizza Co/); // the demo data
  expect(output).toContain(`http://127.0.0.1:${env.API_PORT}`);
  expect(output).toContain(env.PROMETHEUS_URL);
  expect(output).toMatch(/Grafana/);

  // Every target up, under prometheus.yml's job names.
  const real = parse(readFileSync(path.join(ROOT, 'prometheus.yml'), 'utf8')) as {
    scrape_configs: { job_name: string; metrics_path?: string }[];
  };
  const expectedJobs = real.scrape_configs.filter((j) => j.metrics_path !== '/probe').map((j) => j.job_name);
  const targets = await until(
    'every target up',
    async () => {
      const body = (await (await fetch(`${env.PROMETHEUS_URL}/api/v1/targets?state=active`)).json()) as {
        data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] };
      };
      const t = body.data.activeTargets;
      return t.length > 0 && t.every((x) => x.health === 'up') ? t : undefined;
    },
    180_000,
  );
  const jobs = [...new Set(targets.map((t) => t.labels.job))];
  // Only prometheus.yml's job names; every service npm start runs; Debian's exporters where
  // installed. (Caddy, redis_exporter, the queue-mode worker and Grafana are not started here.)
  for (const job of jobs) expect(expectedJobs).toContain(job);
  expect(jobs).toEqual(
    expect.arrayContaining(['prometheus', 'alertmanager', 'ct_exporters', 'ct_api', 'ct_notifier', 'ct_tenant_proxy', 'n8n']),
  );
  for (const [job, bin] of [
    ['node', 'prometheus-node-exporter'],
    ['postgres_exporter', 'prometheus-postgres-exporter'],
    ['blackbox_exporter', 'prometheus-blackbox-exporter'],
  ] as const) {
    if (expectedJobs.includes(job) && existsSync(`/usr/bin/${bin}`)) expect(jobs).toContain(job);
  }

  // Every group of alerting/rules loaded, and the test's.
  const wantedGroups = readdirSync(RULES_DIR)
    .filter((f) => f.endsWith('.yml'))
    .flatMap((f) => (parse(readFileSync(path.join(RULES_DIR, f), 'utf8')) as { groups: { name: string }[] }).groups.map((g) => g.name));
  const rules = (await (await fetch(`${env.PROMETHEUS_URL}/api/v1/rules`)).json()) as { data: { groups: { name: string }[] } };
  expect(rules.data.groups.map((g) => g.name).sort()).toEqual([...wantedGroups, 'start-smoke-test'].sort());

  // One alert, end to end into the SMTP sink.
  const mail = await until(
    'the StartSmokeTest mail',
    async () => {
      const mails = (await (await fetch(`${env.SMTP_SINK_URL}/messages`)).json()) as { subject: string; to: string[] }[];
      return mails.find((m) => m.subject.includes('StartSmokeTest'));
    },
    120_000,
  );
  expect(mail.to.join(',')).toMatch(/oncall@/);

  // Stopping: the platform and the bench, and nothing of theirs left running.
  const { pids, benchDir } = await stopAll();
  expect(pids.length).toBeGreaterThan(5);
  expect(start.pid && isAlive(start.pid)).toBeFalsy();
  expect(pids.filter(isAlive)).toEqual([]);
  // Nothing else running from the bench's folder either (task runners, workers).
  expect(spawnSync('pgrep', ['-f', benchDir!]).stdout.toString().trim()).toBe('');
});
