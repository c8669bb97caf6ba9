import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import type { StackState } from '../bench/stack';
import { isAlive } from '../bench/process';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

function portsOf(env: Record<string, string>): number[] {
  return Object.values(env)
    .map(
      (v) =>
        /^https?:\/\/127\.0\.0\.1:(\d+)/.exec(v)?.[1] ?? (/^postgres:\/\/[^@]+@127\.0\.0\.1:(\d+)\//.exec(v)?.[1] as string | undefined),
    )
    .filter((p): p is string => Boolean(p))
    .map(Number);
}

describe('stack:up then stack:down', () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'ct-bench-state-'));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('starts every service, writes a sourceable env file, and leaves no process or port behind', async () => {
    const env = { ...process.env, CT_BENCH_STATE_DIR: stateDir };
    const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
    await run(tsx, ['test/bench/cli.ts', 'up'], { cwd: ROOT, env, timeout: 180_000 });

    const state = JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as StackState;
    expect(Object.keys(state.pids).sort()).toEqual(['alertmanager', 'http-sink', 'n8n', 'postgres', 'prometheus', 's3', 'smtp-sink']);
    for (const pid of Object.values(state.pids)) expect(isAlive(pid)).toBe(true);
    const envFile = readFileSync(path.join(stateDir, 'env'), 'utf8');
    for (const key of [
      'DATABASE_URL',
      'N8N_URL',
      'N8N_API_KEY',
      'N8N_OWNER_EMAIL',
      'N8N_OWNER_PASSWORD',
      'PROMETHEUS_URL',
      'ALERTMANAGER_URL',
      'S3_ENDPOINT',
      'S3_ACCESS_KEY_ID',
      'SMTP_HOST',
      'SMTP_PORT',
      'SINK_URL',
    ]) {
      expect(envFile).toMatch(new RegExp(`^${key}='.+'$`, 'm'));
    }
    // The env file is what a shell sources: prove it by sourcing it.
    const { stdout } = await run('bash', ['-c', `set -a; . '${path.join(stateDir, 'env')}'; set +a; printf '%s' "$DATABASE_URL"`]);
    expect(stdout).toBe(state.env.DATABASE_URL);
    // Each service answers for real.
    const pg = new Client({ connectionString: state.env.DATABASE_URL });
    await pg.connect();
    expect((await pg.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await pg.end();
    const n8n = await fetch(`${state.env.N8N_URL}/api/v1/workflows`, { headers: { 'X-N8N-API-KEY': state.env.N8N_API_KEY! } });
    expect(n8n.status).toBe(200);
    expect((await fetch(`${state.env.PROMETHEUS_URL}/-/ready`)).status).toBe(200);
    expect((await fetch(`${state.env.ALERTMANAGER_URL}/-/ready`)).status).toBe(200);

    const ports = portsOf(state.env).concat(Number(state.env.SMTP_PORT));
    expect(ports.length).toBeGreaterThanOrEqual(8);
    for (const p of ports) expect(await portOpen(p)).toBe(true);

    await run(tsx, ['test/bench/cli.ts', 'down'], { cwd: ROOT, env, timeout: 120_000 });
    for (const [name, pid] of Object.entries(state.pids)) expect([name, isAlive(pid)]).toEqual([name, false]);
    for (const p of ports) expect([p, await portOpen(p)]).toEqual([p, false]);
    expect(existsSync(state.dir)).toBe(false);
    expect(existsSync(path.join(stateDir, 'state.json'))).toBe(false);
  }, 300_000);

  it('left the test run’s own bench alone', async () => {
    const pg = new Client({ connectionString: process.env.DATABASE_URL });
    await pg.connect();
    expect((await pg.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await pg.end();
  });
});
