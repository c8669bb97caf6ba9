/**
 * `npm run bench:backup`: throughput and memory of `ct backup run` against the shell pipelines an
 * administrator would write, on a database grown with generate_series to each size in
 * BENCH_BACKUP_SIZES_MB (default "100,1024"). At every size `ct backup run` runs
 * BENCH_BACKUP_REPEAT times (default 3). From 1 GB up (or at the largest size) each of its runs is
 * followed by one of the fast pipeline and one of the fast pipeline uploading to the same S3, so
 * all three see the same machine, and the table gives medians and the ratio of the medians; the
 * administrator's pipeline (slow) and the restore drill run once. Private PostgreSQL and S3 in a
 * temporary folder (on tmpfs when the machine has one, see `workDir`); everything is removed at
 * the end. Prints a markdown table (and JSON with --json).
 */
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createBucket, deleteKeys, listKeys, storageSchema, type Bucket } from '@ct/backup';
import { createPool, migrate } from '@ct/lib';
import { CT_BIN } from '../../test/helpers/cli';
import { startPostgres, startS3 } from '../../test/bench/services';

const MB = 1_000_000;
const sizes = (process.env.BENCH_BACKUP_SIZES_MB ?? '100,1024').split(',').map(Number);
const repeat = Number(process.env.BENCH_BACKUP_REPEAT ?? 3);

/**
 * Where the bench lives: BENCH_BACKUP_DIR, else tmpfs (/dev/shm) when there is one, else the
 * temporary folder. Every output compared here — the shell pipelines' files and the objects the
 * S3 server stores — then goes to memory alike, and no result depends on when the disk writes
 * back what another measurement left dirty.
 */
function workDir(): string {
  const candidates = [process.env.BENCH_BACKUP_DIR, '/dev/shm', tmpdir()].filter((d): d is string => Boolean(d));
  for (const d of candidates) {
    try {
      accessSync(d, constants.W_OK);
      return d;
    } catch {
      /* next */
    }
  }
  return tmpdir();
}

/**
 * A pause before each measurement: what the previous one left running (s3rver finishing writing
 * an object it has already acknowledged, collections, the page cache) must not be charged to the
 * next one, whichever it is.
 */
const settle = () => new Promise((r) => setTimeout(r, Number(process.env.BENCH_BACKUP_SETTLE_MS ?? 2000)));

/**
 * Removes every object: each ct run starts with the bucket as the first one found it. s3rver's
 * cost per upload grew with what it already stored on this machine's tmpfs (1.7-1.8 CPU-seconds
 * per 450 MB backup with an empty bucket, 2.6-3.1 with three to six kept), which S3 does not do.
 */
async function emptyBucket(bucket: Bucket): Promise<void> {
  const keys = (await listKeys(bucket, '')).map((k) => k.key);
  if (keys.length > 0) await deleteKeys(bucket, keys);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function sh(script: string, env: NodeJS.ProcessEnv): { seconds: number } {
  const t0 = process.hrtime.bigint();
  execFileSync('bash', ['-o', 'pipefail', '-c', script], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/** Runs the ct CLI, sampling the node process's RSS; returns its output, time and peak RSS. */
function ct(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; seconds: number; peakRssBytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [CT_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let peak = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setInterval(() => {
      try {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
      } catch {
        /* exited */
      }
    }, 50);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`ct ${args.join(' ')} exited ${code}: ${stdout}`));
      resolve({ stdout, seconds: Number(process.hrtime.bigint() - t0) / 1e9, peakRssBytes: peak });
    });
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(workDir(), 'ct-backup-bench-'));
  const pg = await startPostgres(dir, { database: 'ct' });
  const s3 = await startS3(dir, { name: 's3-bench' });
  const pool = createPool({ url: pg.url, max: 2 });
  const results: Record<string, unknown>[] = [];
  const key = 'bench-only-backup-master-key-0123456789abcdef';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...pg.env,
    ...s3.env,
    PATH: `${pg.env.PG_BIN_DIR}:${process.env.PATH}`,
    BACKUP_MASTER_KEY: key,
    KEY: key,
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
  };
  const bucket = createBucket(storageSchema.parse(env));
  try {
    await migrate(pool);
    await pool.query(`CREATE TABLE bench_events (id bigint, at timestamptz, client text, kind text, body text, amount numeric(10,2))`);
    let next = 1;
    const dbSize = async () => Number((await pool.query(`SELECT pg_database_size(current_database())::text AS n`)).rows[0].n);
    for (const target of sizes) {
      // Grow in batches of 200k rows (about 28 MB) until the database reaches the target size.
      while ((await dbSize()) < target * MB) {
        await pool.query(
          `INSERT INTO bench_events SELECT g, now() - (g || ' seconds')::interval, 'client-' || (g % 50), 'lead.captured',
             md5(g::text) || ' ' || repeat('event payload ', ((g % 7) + 1)::int) || md5((g * 13)::text), (g % 100000) / 100.0
           FROM generate_series($1::bigint, $1::bigint + 199999) g`,
          [next],
        );
        next += 200_000;
      }
      await pool.query('VACUUM ANALYZE bench_events');
      // Every measurement starts from a clean cluster: what loading and vacuuming left dirty is
      // written back now, not by a checkpoint during the first measurement (ct's).
      await pool.query('CHECKPOINT');
      const size = await dbSize();
      const compared = target >= 1000 || target === Math.max(...sizes);
      const fastFile = path.join(dir, 'fast.dump.enc');
      // The fast pipeline, written once: to a file, and streamed to the same S3 with curl.
      const fastPipeline = `pg_dump -Fc -Z0 -d "${pg.url}" | zstd -1 -q | openssl enc -aes-256-cbc -pbkdf2 -pass env:KEY`;
      const ctRuns: { seconds: number; peakRssBytes: number; bytes: number; dumpBytes: number }[] = [];
      const fastRuns: number[] = [];
      const fastS3Runs: number[] = [];
      for (let i = 1; i <= repeat; i++) {
        await emptyBucket(bucket);
        process.stderr.write(`database: ${(size / MB).toFixed(0)} MB, ct backup run (${i}/${repeat})\n`);
        await settle();
        const run = await ct(['backup', 'run', '--json'], env);
        const out = JSON.parse(run.stdout) as { bytes: number; details: { dumpBytes: number } };
        ctRuns.push({ seconds: run.seconds, peakRssBytes: run.peakRssBytes, bytes: out.bytes, dumpBytes: out.details.dumpBytes });
        if (!compared) continue;
        process.stderr.write(`fast pipeline: pg_dump -Fc -Z0 | zstd -1 | openssl enc (${i}/${repeat})\n`);
        await settle();
        fastRuns.push(sh(`${fastPipeline} > ${fastFile}`, env).seconds);
        // Like for like: the fast pipeline also sending its output to the same S3 (one streamed PUT).
        process.stderr.write(`fast pipeline into S3: … | openssl enc | curl -T - (${i}/${repeat})\n`);
        await settle();
        fastS3Runs.push(sh(`${fastPipeline} | curl -sSf -T - ${s3.endpoint}/${s3.bucket}/bench/fast.dump.enc`, env).seconds);
      }
      const ctSeconds = median(ctRuns.map((r) => r.seconds));
      const row: Record<string, unknown> = {
        databaseMB: Math.round(size / MB),
        runs: repeat,
        ctSeconds,
        ctSecondsAll: ctRuns.map((r) => r.seconds),
        ctMBps: size / MB / ctSeconds,
        ctPeakRssMB: median(ctRuns.map((r) => r.peakRssBytes)) / 2 ** 20,
        ctPeakRssMaxMB: Math.max(...ctRuns.map((r) => r.peakRssBytes)) / 2 ** 20,
        ctObjectMB: ctRuns[0]!.bytes / MB,
        dumpMB: ctRuns[0]!.dumpBytes / MB,
      };
      if (compared) {
        process.stderr.write('admin pipeline: pg_dump -Fc | openssl enc\n');
        const adminFile = path.join(dir, 'admin.dump.enc');
        await settle();
        const admin = sh(`pg_dump -Fc -d "${pg.url}" | openssl enc -aes-256-cbc -pbkdf2 -pass env:KEY > ${adminFile}`, env);
        const fastSeconds = median(fastRuns);
        const fastS3Seconds = median(fastS3Runs);
        Object.assign(row, {
          fastS3Seconds,
          fastS3SecondsAll: fastS3Runs,
          fastS3MBps: size / MB / fastS3Seconds,
          ctVsFastS3: fastS3Seconds / ctSeconds,
          adminSeconds: admin.seconds,
          adminMBps: size / MB / admin.seconds,
          adminFileMB: statSync(adminFile).size / MB,
          fastSeconds,
          fastSecondsAll: fastRuns,
          fastMBps: size / MB / fastSeconds,
          fastFileMB: statSync(fastFile).size / MB,
          ctVsFast: fastSeconds / ctSeconds,
          ctVsAdmin: admin.seconds / ctSeconds,
        });
        rmSync(adminFile);
        rmSync(fastFile);
        process.stderr.write('restore drill\n');
        await settle();
        const drill = await ct(['backup', 'drill', '--json'], env);
        const d = JSON.parse(drill.stdout) as {
          status: string;
          details: { verifySeconds: number; restoreSeconds: number; totalRestoreSeconds: number };
        };
        Object.assign(row, {
          drillStatus: d.status,
          drillVerifySeconds: d.details.verifySeconds,
          drillRestoreSeconds: d.details.restoreSeconds,
          drillTotalRestoreSeconds: d.details.totalRestoreSeconds,
          drillPeakRssMB: drill.peakRssBytes / 2 ** 20,
        });
      }
      results.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
  } finally {
    await pool.end();
    await s3.stop();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const f = (v: unknown, d = 1) => (typeof v === 'number' ? v.toFixed(d) : String(v ?? '—'));
  const lines = [
    '| database | ct backup run | MB/s | peak RSS (max) | object | pg_dump -Fc \\| openssl | MB/s | file | -Z0 \\| zstd -1 \\| openssl | MB/s | file | ct vs fast | ct vs admin | fast + upload to S3 | ct vs it | drill restore |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.databaseMB} MB | ${f(r.ctSeconds)} s | ${f(r.ctMBps)} | ${f(r.ctPeakRssMB, 0)} MB (${f(r.ctPeakRssMaxMB, 0)}) | ${f(r.ctObjectMB)} MB | ` +
        `${r.adminSeconds ? `${f(r.adminSeconds)} s` : '—'} | ${f(r.adminMBps)} | ${r.adminFileMB ? `${f(r.adminFileMB)} MB` : '—'} | ` +
        `${r.fastSeconds ? `${f(r.fastSeconds)} s` : '—'} | ${f(r.fastMBps)} | ${r.fastFileMB ? `${f(r.fastFileMB)} MB` : '—'} | ` +
        `${r.ctVsFast ? `${f(r.ctVsFast, 2)}×` : '—'} | ${r.ctVsAdmin ? `${f(r.ctVsAdmin, 2)}×` : '—'} | ` +
        `${r.fastS3Seconds ? `${f(r.fastS3Seconds)} s` : '—'} | ${r.ctVsFastS3 ? `${f(r.ctVsFastS3, 2)}×` : '—'} | ` +
        `${r.drillTotalRestoreSeconds ? `${f(r.drillTotalRestoreSeconds)} s (verify ${f(r.drillVerifySeconds)} + pg_restore ${f(r.drillRestoreSeconds)})` : '—'} |`,
    ),
  ];
  lines.push(
    '',
    `Medians of ${repeat} alternated runs; peak RSS of \`ct\` is the median and (max) of its runs. Work folder: ${path.dirname(dir)}.`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
