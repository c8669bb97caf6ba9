import { randomBytes } from 'node:crypto';
import { createPool, errorMessage, verifyAuditChain } from '@ct/lib';
import type { BackupConfig } from './config';
import { keyringFrom } from './envelope';
import { connect, databaseUrlFor, rowCounts } from './pgtools';
import { restoreDatabase } from './restore';
import { RunFailure, startRun, type RunnerDeps, type StartedRun } from './runs';
import { createBucket, stamp, type Bucket } from './storage';

export interface DrillDeps extends RunnerDeps {
  config: BackupConfig & { DATABASE_URL: string };
  bucket?: Bucket;
  /** Which backup to drill; the latest by default. */
  ref?: string;
}

/**
 * The restore drill: restores a database backup into a scratch database on the platform's
 * server, compares every table's row count with the manifest, verifies the audit chain of the
 * restored rows, records how long the restore took, and drops the scratch database.
 */
export function startRestoreDrill(deps: DrillDeps): Promise<StartedRun> {
  return startRun(deps, 'drill', async ({ client }) => {
    const cfg = deps.config;
    const bucket = deps.bucket ?? createBucket(cfg);
    const scratch = `ct_drill_${stamp(new Date()).toLowerCase()}_${randomBytes(3).toString('hex')}`;
    const scratchUrl = databaseUrlFor(cfg.DATABASE_URL, scratch);
    await client.query(`CREATE DATABASE "${scratch}"`);
    const details: Record<string, unknown> = { scratchDatabase: scratch };
    try {
      const restored = await restoreDatabase({
        bucket,
        keyring: keyringFrom(cfg),
        ref: deps.ref ?? 'latest',
        target: scratchUrl,
        pgBinDir: cfg.PG_BIN_DIR,
        log: deps.log,
      });
      Object.assign(details, {
        backupKey: restored.backup.key,
        backupRunId: restored.manifest.runId,
        verifySeconds: restored.verifySeconds,
        restoreSeconds: restored.restoreSeconds,
        totalRestoreSeconds: restored.verifySeconds + restored.restoreSeconds,
      });
      const db = await connect(scratchUrl, 'the drill database');
      let counts: Record<string, number>;
      try {
        counts = await rowCounts(db);
      } finally {
        await db.end().catch(() => undefined);
      }
      const expected = restored.manifest.database?.rowCounts ?? {};
      const mismatches = Object.keys({ ...expected, ...counts })
        .filter((t) => expected[t] !== counts[t])
        .map((t) => ({ table: t, manifest: expected[t] ?? null, restored: counts[t] ?? null }));
      details.tables = Object.keys(counts).length;
      details.rows = Object.values(counts).reduce((a, b) => a + b, 0);
      details.mismatches = mismatches;
      const pool = createPool({ url: scratchUrl, max: 1, applicationName: 'ct-drill' });
      try {
        details.auditChain = await verifyAuditChain(pool);
      } finally {
        await pool.end();
      }
      const chain = details.auditChain as { ok: boolean; reason: string | null; firstBadId: string | null };
      if (mismatches.length > 0) {
        throw new RunFailure(
          `row counts differ from the manifest in ${mismatches.length} table(s), first ${mismatches[0]!.table}: ` +
            `${mismatches[0]!.manifest} in the manifest, ${mismatches[0]!.restored} restored`,
          { objectKey: restored.backup.key, details },
        );
      }
      if (!chain.ok) {
        throw new RunFailure(`the restored audit chain does not verify at row ${chain.firstBadId}: ${chain.reason}`, {
          objectKey: restored.backup.key,
          details,
        });
      }
      return { objectKey: restored.backup.key, bytes: restored.manifest.sizes.ciphertextBytes, details };
    } catch (err) {
      if (err instanceof RunFailure) throw err;
      throw new RunFailure(errorMessage(err), { details });
    } finally {
      await client.query(`DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`).catch((err) => {
        deps.log?.error({ db: scratch, err: errorMessage(err) }, 'could not drop the drill database');
      });
    }
  });
}
