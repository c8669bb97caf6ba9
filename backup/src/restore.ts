import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorMessage, redactUrl, UserError, type Logger } from '@ct/lib';
import { DecryptionError, DecryptStream, type Keyring } from './envelope';
import { checkManifest, resolveBackup, type Manifest, type ManifestCheck, type StoredBackup } from './manifest';
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
  if (dec.header && dec.header.keyId !== manifest.encryption.keyId) {
    throw new DecryptionError(
      `the object was encrypted with master key "${dec.header.keyId}" but its manifest says "${manifest.encryption.keyId}"`,
    );
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

export interface ManifestOptions {
  /** Accept a legacy manifest that carries no authentication (with a warning); refused otherwise. */
  allowUnauthenticated?: boolean;
  log?: Logger;
}

/**
 * Authenticates the manifest and its binding to `backup` (see checkManifest), then the whole object
 * (every chunk tag, both hashes, and for a dump zstd's own content checksum via `zstd -t`) without
 * writing anything anywhere.
 */
export async function verifyBackup(
  bucket: Bucket,
  keyring: Keyring,
  backup: StoredBackup,
  manifest: Manifest,
  onProgress?: (p: RestoreProgress) => void,
  opts: ManifestOptions = {},
): Promise<{ etag: string } & ManifestCheck> {
  const check = checkManifest(backup, manifest, keyring, opts);
  if (manifest.compression.algorithm !== 'zstd')
    return { ...check, ...(await readThrough(bucket, keyring, backup, manifest, discard(), { phase: 'verify', onProgress })) };
  const test = spawnTool('zstd', ['-t', '-q', '-'], { label: 'zstd -t (integrity test)' });
  const read = await readThrough(bucket, keyring, backup, manifest, test.stdin, {
    phase: 'verify',
    onProgress,
    extra: [test.done],
    stopExtra: () => test.kill('SIGKILL'),
  });
  return { ...check, ...read };
}

/** Authenticates the manifest, then reads, verifies and decrypts a small backup (the n8n export) into memory. */
export async function readVerified(
  bucket: Bucket,
  keyring: Keyring,
  backup: StoredBackup,
  manifest: Manifest,
  opts: ManifestOptions = {},
): Promise<Buffer> {
  checkManifest(backup, manifest, keyring, opts);
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
  /** See ManifestOptions: a legacy manifest is refused unless this is set. */
  allowUnauthenticated?: boolean;
  /** Tolerance between clocks when choosing `latest` (seconds). */
  maxSkewSeconds?: number;
  /** The backup to restore, already resolved (the drill chooses it); `ref` is then ignored. */
  resolved?: { backup: StoredBackup; manifest: Manifest };
}

export interface RestoreResult {
  backup: StoredBackup;
  manifest: Manifest;
  /** False when a legacy, unauthenticated manifest was accepted with allowUnauthenticated. */
  authenticated: boolean;
  verifySeconds: number;
  restoreSeconds: number;
}

/**
 * Restores a database backup into `target`. The object is verified end to end first (a verify
 * pass that writes nothing); only then is it read again — pinned to the same ETag — into
 * pg_restore, which runs in a single transaction so an interruption leaves the target unchanged.
 */
export async function restoreDatabase(opts: RestoreOptions): Promise<RestoreResult> {
  const { backup, manifest } =
    opts.resolved ?? (await resolveBackup(opts.bucket, 'database', opts.ref, { maxSkewSeconds: opts.maxSkewSeconds, log: opts.log }));
  // Before touching the target: a manifest that does not describe this object stops here.
  checkManifest(backup, manifest, opts.keyring, opts);
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
  const { etag, authenticated } = await verifyBackup(opts.bucket, opts.keyring, backup, manifest, opts.onProgress, opts);
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
  return { backup, manifest, authenticated, verifySeconds: (t1 - t0) / 1000, restoreSeconds: (Date.now() - t1) / 1000 };
}
