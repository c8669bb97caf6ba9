import type { Command } from 'commander';
import type { BackupRun, Manifest, StartedRun } from '@ct/backup';
import {
  createLogger,
  createPool,
  loadConfig,
  N8nClient,
  parseEnv,
  redactUrl,
  sections,
  UserError,
  withTransaction,
  writeAudit,
  type Pool,
} from '@ct/lib';
import { preferFullCollections } from '../gc';
import { withDatabase } from './context';

const out = (line: string) => process.stdout.write(`${line}\n`);

function summary(run: BackupRun, formatBytes: (n: number) => string): string {
  const seconds = run.finishedAt ? (run.finishedAt.getTime() - run.startedAt.getTime()) / 1000 : 0;
  const d = run.details as { databaseSizeBytes?: number; restoreSeconds?: number; totalRestoreSeconds?: number; workflows?: number };
  const parts = [`${run.kind} ${run.status}`, `run ${run.id}`, `${seconds.toFixed(1)} s`];
  if (run.objectKey) parts.push(run.objectKey);
  if (run.bytes !== null) parts.push(`${formatBytes(run.bytes)} stored`);
  if (d.databaseSizeBytes && seconds > 0) parts.push(`${formatBytes(d.databaseSizeBytes / seconds)}/s of database`);
  if (d.workflows !== undefined) parts.push(`${d.workflows} workflows`);
  if (d.totalRestoreSeconds !== undefined) parts.push(`restore took ${d.totalRestoreSeconds.toFixed(1)} s`);
  if (run.error) parts.push(`error: ${run.error}`);
  return parts.join(' · ');
}

/** Waits for a run started by another process to finish. */
async function waitFor(pool: Pool, id: string): Promise<BackupRun> {
  const { getRun } = await import('@ct/backup');
  for (;;) {
    const run = await getRun(pool, id);
    if (!run) throw new UserError(`run ${id} is no longer recorded; see ct backup list`);
    if (run.status !== 'running') return run;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function report(started: StartedRun, pool: Pool, opts: { now?: boolean; json?: boolean }): Promise<void> {
  const { formatBytes } = await import('@ct/backup');
  let run: BackupRun;
  if (started.alreadyRunning) {
    process.stderr.write(
      `a ${started.run.kind} run is already going (run ${started.run.id}, since ${started.run.startedAt.toISOString()})\n`,
    );
    run = opts.now ? started.run : await waitFor(pool, started.run.id);
  } else {
    run = await started.done;
  }
  if (opts.json) out(JSON.stringify(run));
  else out(summary(run, formatBytes));
  if (run.status === 'failed') throw new UserError(`${run.kind} run ${run.id} failed: ${run.error}`);
}

export function registerBackupCommands(program: Command): void {
  const backup = program.command('backup').description('encrypted off-site backups: run, list, restore, drill, retention');
  backup.hook('preAction', preferFullCollections);

  backup
    .command('run')
    .description('back up the database (or export the n8n workflows) to S3 now')
    .option('--kind <kind>', 'database or n8n', 'database')
    .option('--now', 'if one is already running, report it and return at once instead of waiting for it')
    .option('--json', 'print the finished run as JSON')
    .action(async (opts: { kind: string; now?: boolean; json?: boolean }) => {
      if (opts.kind !== 'database' && opts.kind !== 'n8n') throw new UserError(`--kind must be database or n8n, got ${opts.kind}`);
      const { backupSchema, loadBackupConfig, progressLine, startDatabaseBackup, startN8nBackup } = await import('@ct/backup');
      const cfg = opts.kind === 'n8n' ? loadConfig(['database', 'logging', 'n8n'], backupSchema) : loadBackupConfig();
      const log = createLogger({
        level: cfg.LOG_LEVEL,
        format: cfg.LOG_FORMAT === 'auto' ? 'json' : cfg.LOG_FORMAT,
        destination: process.stderr,
      });
      await withDatabase(async (pool) => {
        const progress = progressLine();
        const deps = { pool, log, actor: 'cli', config: cfg };
        let started: StartedRun;
        if (opts.kind === 'n8n') {
          const n8nCfg = cfg as typeof cfg & { N8N_URL: string; N8N_API_KEY: string; N8N_TIMEOUT: number };
          const n8n = new N8nClient({ url: n8nCfg.N8N_URL, apiKey: n8nCfg.N8N_API_KEY, timeoutSeconds: n8nCfg.N8N_TIMEOUT });
          started = await startN8nBackup({ ...deps, n8n, n8nUrl: n8nCfg.N8N_URL });
        } else {
          started = await startDatabaseBackup({ ...deps, onProgress: (p) => progress.update('encrypted and uploaded', p.encryptedBytes) });
        }
        try {
          await report(started, pool, opts);
        } finally {
          progress.clear();
        }
      });
    });

  backup
    .command('list')
    .description('backups in the bucket (newest last) and, with a database, the recent runs')
    .option('--kind <kind>', 'database or n8n (default: both)')
    .option('--json', 'print JSON')
    .action(async (opts: { kind?: string; json?: boolean }) => {
      const { createBucket, formatBytes, getJson, listBackups, listRuns, restoreSchema } = await import('@ct/backup');
      const cfg = parseEnv(restoreSchema);
      const bucket = createBucket(cfg);
      const kinds = opts.kind ? [opts.kind] : ['database', 'n8n'];
      if (kinds.some((k) => k !== 'database' && k !== 'n8n')) throw new UserError(`--kind must be database or n8n, got ${opts.kind}`);
      const rows: Manifest[] = [];
      for (const kind of kinds as ('database' | 'n8n')[]) {
        for (const b of await listBackups(bucket, kind)) rows.push(await getJson<Manifest>(bucket, b.manifestKey));
      }
      let runs: BackupRun[] = [];
      if (cfg.DATABASE_URL) {
        const pool = createPool({ url: cfg.DATABASE_URL, max: 1, applicationName: 'ct-cli' });
        try {
          runs = await listRuns(pool, { limit: 10 });
        } catch {
          process.stderr.write(`(recent runs unavailable: cannot read backup_runs at ${redactUrl(cfg.DATABASE_URL)})\n`);
        } finally {
          await pool.end();
        }
      }
      if (opts.json) {
        out(JSON.stringify({ backups: rows, runs }));
        return;
      }
      if (rows.length === 0) out('no backups in the bucket');
      for (const m of rows) {
        const extra = m.kind === 'database' ? `schema ${m.database?.schemaVersion ?? '?'}` : `${m.n8n?.workflows ?? 0} workflows`;
        const legacy = m.auth ? '' : '  (unauthenticated manifest)';
        out(
          `${m.createdAt}  ${m.kind.padEnd(8)}  ${formatBytes(m.sizes.ciphertextBytes).padStart(9)}  key ${m.encryption.keyId}  ${extra}  run ${m.runId}  ${m.objectKey}${legacy}`,
        );
      }
      if (runs.length > 0) {
        out('\nrecent runs:');
        for (const r of runs)
          out(`${r.startedAt.toISOString()}  ${r.kind.padEnd(8)}  ${r.status.padEnd(9)}  ${r.id}${r.error ? `  ${r.error}` : ''}`);
      }
    });

  backup
    .command('restore')
    .description('restore a database backup into a database (verified whole before anything is written)')
    .argument('<backup>', 'latest, a run id or an object key')
    .requiredOption('--target <url>', 'connection string of the database to restore into')
    .option('--force', 'restore into a non-empty database, replacing the objects the backup contains')
    .option('--allow-unauthenticated', 'accept a backup whose manifest predates manifest authentication (warned and audited)')
    .action(async (ref: string, opts: { target: string; force?: boolean; allowUnauthenticated?: boolean }) => {
      const { createBucket, formatBytes, keyringFrom, progressLine, restoreDatabase, restoreSchema } = await import('@ct/backup');
      const cfg = parseEnv(restoreSchema);
      const target = opts.target;
      if (!/^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(target)) {
        throw new UserError('--target must be a connection string with a database name, e.g. postgres://user@host:5432/ct_restored');
      }
      const progress = progressLine();
      try {
        const result = await restoreDatabase({
          bucket: createBucket(cfg),
          keyring: keyringFrom(cfg),
          ref,
          target,
          force: opts.force,
          pgBinDir: cfg.PG_BIN_DIR,
          allowUnauthenticated: opts.allowUnauthenticated,
          maxSkewSeconds: cfg.BACKUP_MAX_CLOCK_SKEW_SECONDS,
          onProgress: (p) => progress.update(p.phase === 'verify' ? 'verifying' : 'restoring', p.bytes, p.total),
        });
        progress.clear();
        await auditIfPossible(cfg.DATABASE_URL, 'backup.restore', result.backup.key, {
          target: redactUrl(target),
          force: opts.force === true,
          runId: result.manifest.runId,
          manifestAuthenticated: result.authenticated,
        });
        if (!result.authenticated) process.stderr.write(`warning: ${result.backup.key} was restored from an unauthenticated manifest\n`);
        out(
          `restored ${result.backup.key} (${formatBytes(result.manifest.sizes.plaintextBytes)} dump, schema ${result.manifest.database?.schemaVersion ?? '?'}) ` +
            `into ${redactUrl(target)} · verified in ${result.verifySeconds.toFixed(1)} s · restored in ${result.restoreSeconds.toFixed(1)} s`,
        );
      } finally {
        progress.clear();
      }
    });

  backup
    .command('restore-n8n')
    .description('re-import the workflows of an n8n export into n8n (existing ones, by name, are skipped)')
    .argument('<backup>', 'latest, a run id or an object key')
    .option('--overwrite', 'replace workflows that already exist')
    .option('--no-reactivate', 'leave every restored workflow inactive (by default those active when exported are activated)')
    .option('--allow-unauthenticated', 'accept an export whose manifest predates manifest authentication (warned and audited)')
    .action(async (ref: string, opts: { overwrite?: boolean; reactivate: boolean; allowUnauthenticated?: boolean }) => {
      const { createBucket, keyringFrom, restoreN8n, restoreSchema } = await import('@ct/backup');
      const cfg = parseEnv(restoreSchema.extend(sections.n8n.shape));
      const n8n = new N8nClient({ url: cfg.N8N_URL, apiKey: cfg.N8N_API_KEY, timeoutSeconds: cfg.N8N_TIMEOUT });
      const result = await restoreN8n({
        bucket: createBucket(cfg),
        keyring: keyringFrom(cfg),
        ref,
        n8n,
        overwrite: opts.overwrite,
        reactivate: opts.reactivate,
        allowUnauthenticated: opts.allowUnauthenticated,
        maxSkewSeconds: cfg.BACKUP_MAX_CLOCK_SKEW_SECONDS,
      });
      await auditIfPossible(cfg.DATABASE_URL, 'backup.restore_n8n', result.objectKey, {
        created: result.created.length,
        updated: result.updated.length,
        skipped: result.skipped.length,
        activated: result.activated.length,
        activationFailed: result.activationFailed.map((f) => f.name),
        manifestAuthenticated: result.authenticated,
      });
      out(
        `restored n8n workflows from ${result.objectKey}: ${result.created.length} created, ${result.updated.length} updated, ` +
          `${result.skipped.length} skipped${result.skipped.length > 0 && !opts.overwrite ? ' (already there; --overwrite replaces them)' : ''}, ` +
          `${result.activated.length} activated again`,
      );
      for (const f of result.activationFailed) out(`  not activated: "${f.name}": ${f.error}`);
    });

  backup
    .command('drill')
    .description('restore the latest backup into a scratch database, check it, time it, drop it')
    .option('--json', 'print the finished run as JSON')
    .action(async (opts: { json?: boolean }) => {
      const { loadBackupConfig, startRestoreDrill } = await import('@ct/backup');
      const cfg = loadBackupConfig();
      await withDatabase(async (pool) => {
        await report(await startRestoreDrill({ pool, actor: 'cli', config: cfg }), pool, { json: opts.json });
      });
    });

  backup
    .command('retention')
    .description('delete backups older than BACKUP_RETENTION_DAYS (by S3 time), keeping the newest of each kind')
    .action(async () => {
      const { applyRetention, createBucket, loadBackupConfig, retentionOptions } = await import('@ct/backup');
      const cfg = loadBackupConfig();
      await withDatabase(async (pool) => {
        const r = await applyRetention({ bucket: createBucket(cfg), ...retentionOptions(cfg), pool, actor: 'cli' });
        out(
          `retention (${cfg.BACKUP_RETENTION_DAYS} days): ${r.deleted.length} deleted, ${r.kept} kept (newest: ${r.keptNewest.join(', ') || 'none'})` +
            (r.deferred.length > 0
              ? `, ${r.deferred.length} due but left for the next passes (at most ${cfg.BACKUP_RETENTION_MAX_DELETE_SHARE * 100} % per pass)`
              : '') +
            (r.refused.length > 0 ? `, ${r.refused.length} refused by S3` : ''),
        );
        for (const k of r.deleted) out(`  deleted ${k}`);
        for (const x of r.refused) out(`  refused ${x.key}: ${x.code}${x.message ? ` (${x.message})` : ''}`);
      });
    });
}

/** Restores are recorded in the platform database when one is configured and reachable. */
async function auditIfPossible(url: string | undefined, action: string, target: string, details: Record<string, unknown>): Promise<void> {
  if (!url) return;
  const pool = createPool({ url, max: 1, applicationName: 'ct-cli' });
  try {
    await withTransaction(pool, (tx) =>
      writeAudit(tx, { actor: 'cli', action, targetType: 'backup', targetId: target, outcome: 'success', details }),
    );
  } catch {
    process.stderr.write(`(not recorded in the audit log: cannot write to ${redactUrl(url)})\n`);
  } finally {
    await pool.end();
  }
}
