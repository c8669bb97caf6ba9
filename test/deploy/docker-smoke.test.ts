import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DOT_ENV } from './fixture';

/**
 * The whole stack on a real Docker engine: built, started with a complete .env, and every
 * long-running service healthy by its own healthcheck. It needs an engine (DOCKER_HOST) and the
 * Compose v2 plugin (`docker compose`, for `up --wait`); where either is missing it is skipped,
 * and says so: the machines the suite usually runs on have no engine. Caddy binds the engine
 * host's ports 80 and 443, and certificates are not requested for the example hostnames (Caddy
 * keeps retrying in the background, which does not affect its health).
 */
const ROOT = path.resolve(__dirname, '..', '..');

function skipReason(): string | undefined {
  if (!process.env.DOCKER_HOST) return 'DOCKER_HOST is not set: no Docker engine to start the stack on';
  const v = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  if (v.status !== 0) return `\`docker compose\` (Compose v2) is not available: ${(v.stderr || v.error?.message || '').trim()}`;
  return undefined;
}

const reason = skipReason();
if (reason) console.log(`test/deploy/docker-smoke.test.ts skipped: ${reason}`);
// The one skip of the suite that depends on the machine: nothing here can stand in for an engine.
const describeWithEngine = reason ? describe.skip : describe;

describeWithEngine('the stack on Docker', () => {
  const project = `ct-smoke-${process.pid}`;
  let dir: string;
  let envFile: string;
  const createdSecrets: string[] = [];
  const compose = (args: string[], timeout = 900_000) =>
    execFileSync('docker', ['compose', '-p', project, '--env-file', envFile, '-f', path.join(ROOT, 'docker-compose.yml'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout,
    });

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-smoke-'));
    envFile = path.join(dir, '.env');
    writeFileSync(
      envFile,
      Object.entries(DOT_ENV)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
    // The files the operator puts in secrets/ (docs/deployment.md); left as they are if present.
    const secrets = path.join(ROOT, 'secrets');
    mkdirSync(secrets, { recursive: true });
    const values: Record<string, string> = {
      grafana_admin_password: 'smoke-admin-password-0123456789',
      'smtp-password': 'smoke-smtp',
      'notifier-token': DOT_ENV.NOTIFIER_AUTH_TOKEN!,
      'opsgenie-heartbeat-key': 'smoke-heartbeat',
    };
    for (const [file, value] of Object.entries(values)) {
      const f = path.join(secrets, file);
      if (existsSync(f)) continue;
      writeFileSync(f, value, { mode: 0o600 });
      createdSecrets.push(f);
    }
    compose(['up', '-d', '--build', '--wait', '--wait-timeout', '600']);
  }, 960_000);

  afterAll(() => {
    try {
      compose(['down', '-v', '--remove-orphans'], 300_000);
    } finally {
      for (const f of createdSecrets) rmSync(f, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  }, 320_000);

  it('every long-running service is healthy, and the one-shot services finished successfully', () => {
    const rows = compose(['ps', '-a', '--format', 'json'])
      .trim()
      .split('\n')
      .flatMap((line) => (line.startsWith('[') ? (JSON.parse(line) as object[]) : [JSON.parse(line) as object]))
      .map((r) => r as { Service: string; State: string; Health: string; ExitCode: number });
    const byService = Object.fromEntries(rows.map((r) => [r.Service, r]));
    for (const oneShot of ['migrate', 'postgres-roles']) {
      expect({ service: oneShot, state: byService[oneShot]?.State, exit: byService[oneShot]?.ExitCode }).toEqual({
        service: oneShot,
        state: 'exited',
        exit: 0,
      });
    }
    const unhealthy = rows
      .filter((r) => !['migrate', 'postgres-roles'].includes(r.Service))
      .filter((r) => r.State !== 'running' || r.Health !== 'healthy')
      .map((r) => `${r.Service}: ${r.State}/${r.Health || 'no healthcheck'}`);
    expect(unhealthy).toEqual([]);
  });
});
