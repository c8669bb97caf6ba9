import { execFile } from 'node:child_process';
import path from 'node:path';
import { PassThrough, pipeline } from 'node:stream';
import { promisify } from 'node:util';
import type { Client } from 'pg';
import { errorMessage } from '@ct/lib';
import type { BackupConfig } from './config';
import { keyringFrom } from './envelope';
import { manifestKeyOf, signManifest, toolVersion } from './manifest';
import { connect, rowCounts, spawnPgDump } from './pgtools';
import { RunFailure, startRun, type RunnerDeps, type StartedRun } from './runs';
import {
  abortIncompleteUploads,
  createBucket,
  deleteKeys,
  describeS3Error,
  exists,
  kindPrefix,
  objectKeyFor,
  putJson,
  storedEtags,
  type Bucket,
} from './storage';
import { spawnTool, toolEnv } from './streams';
import { encryptAndUpload } from './upload';

export interface BackupProgress {
  /** Encrypted bytes handed to the uploader so far. */
  encryptedBytes: number;
}

export interface BackupDeps extends RunnerDeps {
  config: BackupConfig & { DATABASE_URL: string };
  /** Defaults to a client built from the config. */
  bucket?: Bucket;
  onProgress?: (p: BackupProgress) => void;
  /** The clock, for the object's name (tests date backups in the past). */
  now?: () => Date;
}

/** Picks the object name; a second backup within the same second gets the run id appended. */
export async function chooseKey(bucket: Bucket, kind: 'database' | 'n8n', at: Date, runId: string): Promise<string> {
  const key = objectKeyFor(bucket, kind, at);
  if (!(await exists(bucket, manifestKeyOf(key))) && !(await exists(bucket, key))) return key;
  return objectKeyFor(bucket, kind, at, `-${runId.slice(0, 8)}`);
}

/**
 * The sizes zstd reports at the end with -vv: "( <in> B =>  <out> B, …)" since zstd 1.5,
 * "( <in> =>  <out> bytes, …)" before. Null when neither is there.
 */
export function zstdSizes(stderr: string): { input: number; output: number } | null {
  const m = /\(\s*(\d+)(?: B)? =>\s*(\d+) (?:B|bytes),/.exec(stderr);
  return m ? { input: Number(m[1]), output: Number(m[2]) } : null;
}

/**
 * Removes an object whose run failed after it was uploaded, and a manifest that may have been
 * stored although its PUT reported a failure; returns how that went, for the run's error.
 */
export async function discardUploaded(bucket: Bucket, key: string): Promise<string> {
  try {
    await deleteKeys(bucket, [key, manifestKeyOf(key)]);
    return '; the object was removed';
  } catch (err) {
    return `; removing the object failed too (${describeS3Error(err)}), the next retention pass will`;
  }
}

/** Aborts multipart uploads left under a kind's prefix: we hold the kind's lock, so they are stale. */
export async function sweepStaleUploads(deps: { log?: RunnerDeps['log'] }, bucket: Bucket, kind: 'database' | 'n8n'): Promise<void> {
  try {
    const aborted = await abortIncompleteUploads(bucket, kindPrefix(bucket, kind));
    if (aborted.length > 0) deps.log?.warn({ uploads: aborted.map((u) => u.key) }, 'aborted incomplete multipart uploads of earlier runs');
  } catch (err) {
    deps.log?.warn({ err: errorMessage(err) }, 'could not list incomplete multipart uploads');
  }
}

async function pgDumpVersion(binDir?: string): Promise<string> {
  const { stdout } = await promisify(execFile)(binDir ? path.join(binDir, 'pg_dump') : 'pg_dump', ['--version'], { env: toolEnv() });
  return stdout.trim();
}

/**
 * Starts a database backup, or returns the one already running (what `ct backup run --now`, the
 * scheduler and the API's force-backup call). `done` settles when the run is recorded.
 *
 * pg_dump (custom format, uncompressed) | zstd | AES-256-GCM chunks | S3 multipart upload, all
 * streamed: nothing is held whole in memory and nothing unencrypted touches the disk. The dump and
 * the manifest's row counts read the same exported snapshot, so the drill can compare them exactly.
 */
export function startDatabaseBackup(deps: BackupDeps): Promise<StartedRun> {
  return startRun(deps, 'database', async ({ run }) => {
    const cfg = deps.config;
    const bucket = deps.bucket ?? createBucket(cfg);
    const keyring = keyringFrom(cfg);
    const startedAt = deps.now?.() ?? new Date();
    const t0 = process.hrtime.bigint();
    const dumpUrl = cfg.BACKUP_DATABASE_URL ?? cfg.DATABASE_URL;

    const snap: Client = await connect(dumpUrl, 'the database to back up');
    try {
      await snap.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // This session only holds the snapshot open while pg_dump works: a server-wide idle timeout
      // (usual on managed PostgreSQL) must not end it half-way (pg_dump lifts it for its own).
      await snap.query('SET LOCAL idle_in_transaction_session_timeout = 0');
      const info = await snap.query<{ snapshot: string; version: string; name: string; size: string }>(
        `SELECT pg_export_snapshot() AS snapshot, current_setting('server_version') AS version,
                current_database() AS name, pg_database_size(current_database())::text AS size`,
      );
      const { snapshot, version, name, size } = info.rows[0]!;

      // pg_dump writes straight into zstd (a pipe between the two processes): the uncompressed
      // dump never passes through this process, which only encrypts and uploads zstd's output.
      const dump = spawnPgDump(dumpUrl, { snapshot, binDir: cfg.PG_BIN_DIR });
      const zstd = spawnTool('zstd', [`-${cfg.BACKUP_ZSTD_LEVEL}`, '-vv', '-c', '-'], { stdinFrom: dump.stdout });
      const stopDump = () => {
        dump.kill('SIGKILL');
        zstd.kill('SIGKILL');
      };
      // Node throws away a child's output nobody reads once the child has exited (it resumes the
      // stream to free the pipe), and a small database is dumped before S3 has answered below:
      // read zstd's output from the start into a stream that holds it — backpressure stops zstd
      // when that is full — until the upload takes it. A failure reading it errors `compressed`.
      const compressed = new PassThrough();
      pipeline(zstd.stdout, compressed, () => undefined);
      let encrypted = 0;
      const describe = async () => {
        const migrations = await snap
          .query<{ name: string; sha256: string }>('SELECT name, sha256 FROM schema_migrations ORDER BY name')
          .then((r) => r.rows)
          .catch(() => [] as { name: string; sha256: string }[]);
        // Beside the dump the count should take spare CPU, not two parallel workers and a JIT
        // compilation of an expression-free count(*): 0.38 -> 0.30 CPU-seconds for a 1 GB table.
        await snap.query('SET LOCAL max_parallel_workers_per_gather = 0');
        await snap.query('SET LOCAL jit = off');
        // The chain head in the dump's snapshot, anchored in the manifest (see anchors.ts).
        const head = await snap
          .query<{ id: string; hash: string }>('SELECT last_id::text AS id, last_hash AS hash FROM audit_chain_head')
          .then((r) => r.rows[0] ?? null);
        return { migrations, counts: await rowCounts(snap), pgDump: await pgDumpVersion(cfg.PG_BIN_DIR), head };
      };
      // Read beside the dump, in its snapshot. Counting scans every table again: beside the dump
      // it costs only spare CPU (none is spare on the 2-core bench, where the two placements
      // measure alike at 1 GB and 2 GB), after it the scan would add its whole time to every run.
      // A failure here is reported only if the dump itself succeeded.
      const described = describe();
      described.catch(() => undefined);
      // The bucket side (stale uploads of an interrupted run, the object's name) is settled while
      // pg_dump reads the catalog: its first bytes wait in the pipe, and the run does not wait
      // for S3's round trips before the dump starts.
      let key: string;
      try {
        await sweepStaleUploads(deps, bucket, 'database');
        key = await chooseKey(bucket, 'database', startedAt, run.id);
      } catch (err) {
        stopDump();
        throw err;
      }
      let uploaded;
      try {
        uploaded = await encryptAndUpload({
          bucket,
          key,
          keyring,
          config: cfg,
          content: 'pg_dump custom format, zstd',
          input: compressed,
          producers: [dump.done, zstd.done],
          stopProducers: stopDump,
          onCipherBytes: (n) => {
            encrypted = n;
            deps.onProgress?.({ encryptedBytes: encrypted });
          },
          log: deps.log,
        });
      } catch (err) {
        throw new RunFailure(errorMessage(err), { details: { encryptedBytes: encrypted } });
      }
      // What zstd wrote must be exactly what was encrypted and uploaded.
      const sizes = zstdSizes(zstd.stderrTail());
      const dumpBytes = sizes?.input ?? null;
      if (!sizes || sizes.output !== uploaded.plaintextBytes) {
        throw new RunFailure(
          (sizes
            ? `the backup is incomplete: zstd wrote ${sizes.output} bytes, ${uploaded.plaintextBytes} were encrypted and uploaded`
            : `zstd did not report how much it wrote, so the upload cannot be checked against it (${zstd.stderrTail().trim().slice(-200)})`) +
            (await discardUploaded(bucket, key)),
        );
      }
      let facts: Awaited<typeof described>;
      try {
        facts = await described;
      } catch (err) {
        throw new RunFailure(`reading the row counts for the manifest failed: ${errorMessage(err)}${await discardUploaded(bucket, key)}`);
      }
      const { migrations, counts, pgDump, head } = facts;
      // The transaction only read; the dump has its data whatever happens to this session now.
      await snap
        .query('COMMIT')
        .catch((err: unknown) => deps.log?.warn({ err: errorMessage(err) }, 'ending the snapshot transaction failed'));

      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const manifest = signManifest(
        {
          kind: 'database',
          runId: run.id,
          objectKey: key,
          createdAt: startedAt.toISOString(),
          finishedAt: new Date().toISOString(),
          durationSeconds: seconds,
          tool: { name: '@ct/backup', version: toolVersion() },
          encryption: { algorithm: 'AES-256-GCM-STREAM', keyId: uploaded.keyId, chunkSize: uploaded.chunkSize },
          compression: { algorithm: 'zstd', level: cfg.BACKUP_ZSTD_LEVEL },
          sizes: { dumpBytes, plaintextBytes: uploaded.plaintextBytes, ciphertextBytes: uploaded.ciphertextBytes },
          sha256: { plaintext: uploaded.plaintextSha256, ciphertext: uploaded.ciphertextSha256 },
          database: {
            name,
            serverVersion: version,
            pgDumpVersion: pgDump,
            sizeBytes: Number(size),
            schemaVersion: migrations.at(-1)?.name ?? null,
            migrations,
            rowCounts: counts,
            auditChainHead: head,
          },
        },
        keyring,
      );
      try {
        await putJson(bucket, manifestKeyOf(key), manifest);
      } catch (err) {
        throw new RunFailure(`writing the manifest failed: ${errorMessage(err)}${await discardUploaded(bucket, key)}`);
      }
      return {
        bytes: uploaded.ciphertextBytes,
        objectKey: key,
        details: {
          manifestKey: manifestKeyOf(key),
          databaseSizeBytes: Number(size),
          dumpBytes,
          compressedBytes: uploaded.plaintextBytes,
          durationSeconds: seconds,
          keyId: uploaded.keyId,
          ...(await storedEtags(bucket, key, manifestKeyOf(key))),
        },
      };
    } finally {
      await snap.end().catch(() => undefined);
    }
  });
}
