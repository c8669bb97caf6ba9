import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';

/** Passes bytes through while counting them and hashing them (sha256). */
export class HashTap extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  constructor(private readonly onBytes?: (total: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.onBytes?.(this.bytes);
    cb(null, chunk);
  }
  private digestValue: string | null = null;
  digest(): string {
    this.digestValue ??= this.hash.digest('hex');
    return this.digestValue;
  }
}

export type Child = ChildProcessByStdio<Writable, Readable, Readable> & {
  done: Promise<void>;
  /** The last few kB the tool wrote to stderr. */
  stderrTail(): string;
};

/** Variables a helper tool needs from this process: the search path, locale, time zone, temp dir. */
const TOOL_ENV_NAMES = ['PATH', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES', 'TZ', 'TMPDIR', 'HOME'];

/**
 * The environment of a helper tool: what it needs and the PostgreSQL client settings (PG*), never
 * the rest of this process's environment, which holds the backup master key, the S3 credentials
 * and every other secret of the service (a child could leak them, and /proc/<pid>/environ shows them).
 */
export function toolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (TOOL_ENV_NAMES.includes(k) || /^PG[A-Z]+$/.test(k))) env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Spawns a helper (pg_dump, zstd, pg_restore) with piped stdio and a minimal environment (toolEnv). `done` resolves on exit 0 and
 * rejects with the tail of its stderr otherwise, so the operator sees the tool's own words.
 */
export function spawnTool(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; binDir?: string; label?: string; stdinFrom?: Readable } = {},
): Child {
  const file = opts.binDir ? path.join(opts.binDir, cmd) : cmd;
  const child = spawn(file, args, { env: opts.env ?? toolEnv(), stdio: [opts.stdinFrom ?? 'pipe', 'pipe', 'pipe'] }) as Child;
  // `stdinFrom` (another child's stdout) now belongs to this child: the bytes flow from one process
  // to the other without passing through this one. Closing our end before the event loop runs
  // guarantees we never read any of them.
  opts.stdinFrom?.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  child.stderrTail = () => stderr;
  const label = opts.label ?? cmd;
  child.done = new Promise<void>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'ENOENT'
            ? `${label} not found (${file}); install the PostgreSQL client or zstd, or set PG_BIN_DIR`
            : `${label}: ${err.message}`,
        ),
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const said = stderr
        .trim()
        .split(/[\r\n]+/)
        .filter((l) => !/^(\*\*\*|--|Using std|Decompression will require|\/\*stdin)/.test(l))
        .slice(-4)
        .join(' | ');
      // The signal is always named: a tool killed after a warning must not read as failing on it.
      const how = signal ? `killed by ${signal}` : `exit code ${code}`;
      reject(new Error(`${label} failed: ${said ? `${said} (${how})` : how}`));
    });
  });
  // Errors surface through `done`; a closed pipe must not crash the process.
  child.stdin?.on('error', () => undefined);
  child.stdout.on('error', () => undefined);
  child.done.catch(() => undefined);
  return child;
}

/** Errors that are the echo of stopping a stage (ours or a consumer breaking off), not a cause. */
export function isConsequence(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string };
  return (
    e?.code === 'ABORT_ERR' ||
    e?.code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    e?.code === 'EPIPE' ||
    e?.name === 'AbortError' ||
    /killed by SIG(KILL|PIPE)|write EPIPE|Upload aborted|could not write to output file|Broken pipe/.test(e?.message ?? '')
  );
}

/**
 * Waits for every promise; on the first real failure calls `abort` (which must make the others
 * settle) and, once all have settled, rejects with the cause: the first error that is not merely
 * the consequence of stopping something (see `rank`). A consequence arriving first (a consumer broke off and
 * the stream feeding it was torn down) does not abort at once: the consumer's own error, which
 * names the cause, follows — or `abort` runs after `graceMs` anyway.
 */
export async function allOrAbort(
  promises: Promise<unknown>[],
  abort: (err: unknown) => void,
  opts: { graceMs?: number; rank?: (err: unknown) => number } = {},
): Promise<void> {
  const graceMs = opts.graceMs ?? 30_000;
  const errors: unknown[] = [];
  let aborted = false;
  let timer: NodeJS.Timeout | undefined;
  const stop = (err: unknown) => {
    if (aborted) return;
    aborted = true;
    clearTimeout(timer);
    abort(err);
  };
  await Promise.all(
    promises.map((p) =>
      p.catch((err: unknown) => {
        errors.push(err ?? new Error('unknown failure'));
        if (!isConsequence(err)) stop(err);
        else timer ??= setTimeout(() => stop(err), graceMs);
      }),
    ),
  );
  clearTimeout(timer);
  if (errors.length === 0) return;
  // The cause: the lowest rank (callers rank a failure that makes every other stage fail first,
  // such as S3 going away), then the first that is not a consequence, then the first.
  const rank = (e: unknown) => (opts.rank?.(e) ?? 0) * 2 + (isConsequence(e) ? 1 : 0);
  throw errors.reduce((best, e) => (rank(e) < rank(best) ? e : best));
}
