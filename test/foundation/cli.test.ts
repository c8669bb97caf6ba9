import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CT_MAIN, runCt } from '../helpers/cli';
import { createTestDatabase } from '../helpers/db';

/** Environment without any platform variable, so each case sets exactly what it tests. */
function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return { ...env, ...extra };
}

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('ct: bad input exits non-zero with a message, not a stack trace', () => {
  it('names a missing DATABASE_URL', async () => {
    const r = await runCt(['migrate'], { env: bareEnv() });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('DATABASE_URL: is required but not set');
    expect(r.stderr).toContain('See .env.example');
    noStack(r.stderr);
  });

  it('names a malformed DATABASE_URL and a malformed timeout together', async () => {
    const r = await runCt(['audit', 'verify'], { env: bareEnv({ DATABASE_URL: 'mysql://db/x', DATABASE_CONNECT_TIMEOUT: 'soon' }) });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('DATABASE_URL: must start with postgres:// or postgresql://');
    expect(r.stderr).toContain('DATABASE_CONNECT_TIMEOUT: must be a duration like 30s, 15m, 24h or 7d');
    noStack(r.stderr);
  });

  it('never echoes a secret from a malformed URL', async () => {
    const r = await runCt(['migrate'], { env: bareEnv({ DATABASE_URL: 'postgres://ct:Sup3rS3cret@127.0.0.1:1/ct' }) });
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('Sup3rS3cret');
    expect(r.stderr).toContain('postgres://ct:***@127.0.0.1:1/ct');
  });

  it('rejects an unknown command and an unknown option with usage (exit 2)', async () => {
    const a = await runCt(['frobnicate'], { env: bareEnv() });
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("unknown command 'frobnicate'");
    const b = await runCt(['migrate', '--bogus'], { env: bareEnv() });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("unknown option '--bogus'");
    noStack(a.stderr + b.stderr);
  });

  it('rejects a bad --port for ct serve', async () => {
    const r = await runCt(['serve', 'all', '--port', 'eighty'], { env: bareEnv() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--port must be an integer from 0 to 65535, got eighty');
    noStack(r.stderr);
  });
});

describe('an unreachable database fails fast with a clear message', () => {
  it('connection refused', async () => {
    // Take a free port and close it again: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const started = Date.now();
    const r = await runCt(['migrate'], { env: bareEnv({ DATABASE_URL: `postgres://ct@127.0.0.1:${port}/ct` }) });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `ct: cannot reach the database at postgres://ct@127.0.0.1:${port}/ct: connection refused (is PostgreSQL running on that host and port?)\n`,
    );
  });

  it('a server that accepts the connection and never answers (the case that hangs naive clients)', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const started = Date.now();
      const r = await runCt(['audit', 'verify'], {
        env: bareEnv({ DATABASE_URL: `postgres://ct@127.0.0.1:${port}/ct` }),
        timeoutMs: 20_000,
      });
      const elapsed = Date.now() - started;
      expect(elapsed).toBeLessThan(10_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('connection timed out');
      noStack(r.stderr);
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
    }
  });
});

describe('a database the migrations have not reached', () => {
  it('is named, with the command that fixes it, instead of a driver stack trace', async () => {
    const db = await createTestDatabase({ migrate: false, prefix: 'unmigrated' });
    try {
      const env = bareEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' });
      const verify = await runCt(['audit', 'verify'], { env });
      expect({ code: verify.code, stderr: verify.stderr }).toEqual({
        code: 1,
        stderr: expect.stringMatching(
          /^ct: the database at postgres:\/\/.* is not migrated \(.* does not exist\): run `ct migrate` first\n$/,
        ),
      });
      const status = await runCt(['status'], { env });
      expect(status.stdout).toMatch(/^migrations: 0\/\d+ applied \(run ct migrate\)$/m);
    } finally {
      await db.drop();
    }
  });
});

describe('ct --version', () => {
  it('prints the version of the platform (the root package.json) and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    const r = await runCt(['--version'], { env: bareEnv() });
    expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});

describe('ct loads only the command it runs', () => {
  /** The libraries of the services (HTTP server, n8n client, metrics, JWT, S3): loaded only by the commands that use them. */
  const HEAVY = ['express', 'axios', 'prom-client', 'jose', '@aws-sdk'];
  const heavyIn = (files: string[]) => files.filter((f) => HEAVY.some((name) => f.includes(`/node_modules/${name}/`)));

  /** The files a fresh node process has loaded after running `script` (with the built CLI's main.js as `main`). */
  function loadedAfter(script: string): string[] {
    const code = `const main = require(${JSON.stringify(CT_MAIN)}); ${script}; process.stdout.write(JSON.stringify(Object.keys(require.cache)));`;
    const r = spawnSync(process.execPath, ['-e', code], { cwd: path.dirname(CT_MAIN), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return (JSON.parse(r.stdout) as string[]).map((f) => f.split(path.sep).join('/'));
  }

  it('building the whole program (every command and option) loads none of those libraries', () => {
    const loaded = loadedAfter('main.buildProgram()');
    // The list is the real one: the CLI, commander and @ct/lib are in it.
    expect(loaded).toEqual(
      expect.arrayContaining([
        CT_MAIN.split(path.sep).join('/'),
        expect.stringContaining('/node_modules/commander/'),
        expect.stringMatching(/\/lib\/dist\/index\.js$/),
      ]),
    );
    expect(heavyIn(loaded)).toEqual([]);
  });

  it('the same check sees them when a command does load its package', () => {
    const loaded = loadedAfter(
      "main.buildProgram(); require('@ct/api'); require('@ct/backup'); new (require('@ct/lib').N8nClient)({ url: 'http://n8n.invalid', apiKey: 'k' })",
    );
    expect(new Set(heavyIn(loaded).map((f) => HEAVY.find((name) => f.includes(`/node_modules/${name}/`))))).toEqual(new Set(HEAVY));
  });
});
