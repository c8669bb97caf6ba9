import { spawn, type SpawnOptions } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import net from 'node:net';

/** A free TCP port on 127.0.0.1, as the kernel hands it out (never a fixed one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts a long-running process in its own process group, its output in `logFile`, so stopping
 * it later kills exactly it and its children.
 */
export function spawnDaemon(cmd: string, args: string[], opts: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): number {
  const fd = openSync(opts.logFile, 'a');
  const spawnOpts: SpawnOptions = {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', fd, fd],
  };
  const child = spawn(cmd, args, spawnOpts);
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  child.unref();
  if (process.env.JEST_WORKER_ID && !daemonsOutlive) orphanGuard(child.pid);
  return child.pid;
}

/**
 * Called by a program whose job is to leave services running (stack:up, platform configure): its
 * daemons outlive it even when a test runs it, since JEST_WORKER_ID, inherited from the test worker
 * that ran the program, does not make the program a test worker.
 */
let daemonsOutlive = false;
export function daemonsOutliveThisProcess(): void {
  daemonsOutlive = true;
  guarded.clear();
}

/**
 * In a test worker, what a test starts must not outlive the worker: a service whose start was
 * abandoned (a hook that timed out, a Promise.all that rejected first) is killed when the worker
 * exits or is told to. The bench for a developer's shell (stack:up) is meant to outlive its
 * process and is not guarded (see daemonsOutliveThisProcess).
 */
const guarded = new Set<number>();
function orphanGuard(pid: number): void {
  if (guarded.size === 0 && !orphanGuard.installed) {
    orphanGuard.installed = true;
    const killAll = () => {
      for (const p of guarded) {
        try {
          process.kill(-p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    };
    process.on('exit', killAll);
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        killAll();
        process.exit(128 + (sig === 'SIGTERM' ? 15 : 2));
      });
    }
  }
  guarded.add(pid);
}
orphanGuard.installed = false;

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM to the process group, then SIGKILL after `graceMs` if it is still there. */
export async function killGroup(pid: number, graceMs = 10_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  guarded.delete(pid);
  if (!isAlive(pid)) return;
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(100);
  }
  signal('SIGKILL');
  while (isAlive(pid)) await sleep(50);
}

/** Polls `check` until it returns true, or fails naming `what` with the tail of the log. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; logFile?: string; pid?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (opts.pid !== undefined && !isAlive(opts.pid)) break;
    await sleep(200);
  }
  const tail = opts.logFile && existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8').split('\n').slice(-25).join('\n') : '';
  const why = opts.pid !== undefined && !isAlive(opts.pid) ? 'it exited' : `not ready after ${opts.timeoutMs / 1000}s`;
  throw new Error(`${what}: ${why}${tail ? `\n--- last lines of ${opts.logFile} ---\n${tail}` : ''}`);
}

/** HTTP status of a GET, or 0 when nothing answers. */
export async function httpStatus(url: string, init?: RequestInit): Promise<number> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
