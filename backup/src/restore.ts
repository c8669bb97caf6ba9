import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorMessage, redactUrl, UserError, type Logger } from '@ct/lib';
import { DecryptionError, DecryptStream, type Keyring } from './envelope';
import { resolveBackup, type Manifest, type StoredBackup } from './manifest';
import { connect, spawnPgRestore, userRelationCount } from './pgtools';
import { getStream, type Bucket } from './storage';
import { allOrAbort, HashTap, spawnTool } from './streams';

export interface RestoreProgress {
  phase: 'verify' | 'restore';
  bytes: number;
  total: number;
}

/**
 * Reads a backup object through decryption into `sink`, hashing both sides. Throws a
 * DecryptionError for anything that does not match: a failed chunk tag, a truncated stream, a
 * wrong master key, or a ciphertext/plaintext hash or size differing from the manifest. `extra`
 * are the promises of whatever consumes `sink` (zstd, pg_restore): they fail the read too.
 */
async function readThrough(
  bucket: Bucket,
  keyring: Keyring,
  backup: StoredBackup,
  manifest: Manifest,
  sink: Writable,
  opts: {
    etag?: string;
    phase: RestoreProgress['phase'];
    onProgress?: (p: RestoreProgress) => void;
    extra?: Promise<unknown>[];
    stopExtra?: () => void;
  },
): Promise<{ etag: string }> {
  let got: Awaited<ReturnType<typeof getStream>>;
  try {
    got = await getStream(bucket, backup.key, opts.etag);
  } catch (err) {
    // Whatever was started to consume the object (zstd, pg_restore) would wait for it forever.
    opts.stopExtra?.();
    throw err;
  }
  const { body, etag } = got;
  const total = manifest.sizes.ciphertextBytes;
  const cipherTap = new HashTap((n) => opts.onProgress?.({ phase: opts.phase, bytes: n, total }));
  const dec = new DecryptStream(keyring);
  const plainTap = new HashTap();
  try {
    await allOrAbort([pipeline(body, cipherTap, dec, plainTap, sink), ...(opts.extra ?? [])], () => {
      opts.stopExtra?.();
      body.destroy();
      sink.destroy();
    });
  } catch (err) {
    // Report the decryption problem, not the broken pipe it caused further down.
    if (err instanceof DecryptionError) throw err;
    const decErr = (dec as unknown as { errored?: unknown }).errored;
    if (decErr instanceof DecryptionError) throw decErr;
    throw err;
  }
  if (cipherTap.bytes !== manifest.sizes.ciphertextBytes || cipherTap.digest() !== manifest.sha256.ciphertext) {
    throw new DecryptionError(
      `the object does not match its manifest (ciphertext ${cipherTap.bytes} bytes, sha256 ${cipherTap.digest().slice(0, 12)}…; ` +
        `manifest says ${manifest.sizes.ciphertextBytes} bytes, ${manifest.sha256.ciphertext.slice(0, 12)}…)`,
    );
  }
  if (plainTap.bytes !== manifest.sizes.plaintextBytes || plainTap.digest() !== manifest.sha256.plaintext) {
    throw new DecryptionError('the decrypted backup does not match the sha256 recorded in its manifest');
  }
  return { etag };
}

const discard = () =>
  new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });

/**
 * Authenticates the whole object (every chunk tag, both hashes, and for a dump zstd's own content
 * checksum via `zstd -t`) without writing anything anywhere.
 */
export async function verifyBackup(
  bucket: Bucket,
  keyring: Keyring,
  backup: StoredBackup,
  manifest: Manifest,
  onProgress?: (p: RestoreProgress) => void,
): Promise<{ etag: string }> {
  if (manifest.compression.algorithm !== 'zstd')
    return readThrough(bucket, keyring, backup, manifest, discard(), { phase: 'verify', onProgress });
  const test = spawnTool('zstd', ['-t', '-q', '-'], { label: 'zstd -t (integrity test)' });
  return readThrough(bucket, keyring, backup, manifest, test.stdin, {
    phase: 'verify',
    onProgress,
    extra: [test.done],
    stopExtra: () => test.kill('SIGKILL'),
  });
}

/** Reads, verifies and decrypts a small backup (the n8n export) into memory. */
export async function readVerified(bucket: Bucket, keyring: Keyring, backup: StoredBackup, manifest: Manifest): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => parts.push(d));
  await readThrough(bucket, keyring, backup, manifest, sink, { phase: 'verify' });
  return Buffer.concat(parts);
}

export interface RestoreOptions {
  bucket: Bucket;
  keyring: Keyring;
  /** `latest`, a run id or an object key. */
  ref: string;
  target: string;
  force?: boolean;
  pgBinDir?: string;
  onProgress?: (p: RestoreProgress) => void;
  log?: Logger;
}

export interface RestoreResult {
  backup: StoredBackup;
  manifest: Manifest;
  verifySeconds: number;
  restoreSeconds: number;
}

/**
 * Restores a database backup into `target`. The object is verified end to end first (a verify
 * pass that writes nothing); only then is it read again — pinned to the same ETag — into
 * pg_restore, which runs in a single transaction so an interruption leaves the target unchanged.
 */
export async function restoreDatabase(opts: RestoreOptions): Promise<RestoreResult> {
  const { backup, manifest } = await resolveBackup(opts.bucket, 'database', opts.ref);
  const target = await connect(opts.target, 'the restore target');
  try {
    const n = await userRelationCount(target);
    if (n > 0 && !opts.force) {
      throw new UserError(
        `the target database ${redactUrl(opts.target)} is not empty (${n} relations); ` +
          'restore into an empty database, or pass --force to replace the objects the backup contains',
      );
    }
  } finally {
    await target.end().catch(() => undefined);
  }

  const t0 = Date.now();
  const { etag } = await verifyBackup(opts.bucket, opts.keyring, backup, manifest, opts.onProgress);
  const t1 = Date.now();
  opts.log?.info({ key: backup.key, seconds: (t1 - t0) / 1000 }, 'backup verified');

  // object | decrypt (here) | zstd -d | pg_restore: the last two talk through their own pipe.
  const unzstd = spawnTool('zstd', ['-d', '-q', '-c', '-'], { label: 'zstd -d' });
  const restore = spawnPgRestore(opts.target, { clean: opts.force === true, binDir: opts.pgBinDir, stdinFrom: unzstd.stdout });
  const stop = () => {
    unzstd.kill('SIGKILL');
    restore.kill('SIGKILL');
  };
  try {
    await readThrough(opts.bucket, opts.keyring, backup, manifest, unzstd.stdin, {
      etag,
      phase: 'restore',
      onProgress: opts.onProgress,
      extra: [unzstd.done, restore.done],
      stopExtra: stop,
    });
  } catch (err) {
    stop();
    await restore.done.catch(() => undefined);
    throw err instanceof UserError ? err : new UserError(`restore failed, the target was left unchanged: ${errorMessage(err)}`);
  }
  return { backup, manifest, verifySeconds: (t1 - t0) / 1000, restoreSeconds: (Date.now() - t1) / 1000 };
}
