import { withTransaction, writeAudit, type Logger, type Pool } from '@ct/lib';
import { manifestKeyOf } from './manifest';
import { kindPrefix, listKeys, type Bucket, type ListedKey, type StoredKind } from './storage';

/**
 * Compares the bucket with the backups the platform recorded (backup_runs), to notice what only an
 * intruder or a mistake does: a backup deleted while retention would still keep it, or its object
 * or manifest rewritten after its run ended (an older backup copied under a newer name, say).
 * Retention deletes only backups older than `retentionDays` by S3's clock, so a recorded backup
 * younger than that (with a day's margin for clock differences) must still be there, unchanged.
 * The result is recorded in backup_inventory_checks, which the exporters report
 * (ct_backup_objects_missing, ct_backup_objects_replaced) and BackupObjectsTampered pages on.
 */

export interface InventoryFinding {
  kind: StoredKind;
  runId: string;
  key: string;
  why: string;
}

export interface InventoryResult {
  /** Recorded backups within retention that were looked for. */
  checked: number;
  missing: InventoryFinding[];
  replaced: InventoryFinding[];
}

export interface InventoryOptions {
  bucket: Bucket;
  pool: Pool;
  retentionDays: number;
  log?: Logger;
  actor?: string;
}

/** Clock differences between the database and S3, and an upload's last part landing after the run row's time. */
const MARGIN_SECONDS = 600;
const DAY_SECONDS = 86_400;

interface RunRow {
  id: string;
  kind: StoredKind;
  object_key: string;
  bytes: string | null;
  finished_at: Date;
  /** What S3 stored, recorded by the run (backup/src/storage.ts storedEtags); absent on older runs. */
  object_etag: string | null;
  manifest_etag: string | null;
}

export async function checkBackupInventory(opts: InventoryOptions): Promise<InventoryResult> {
  const { rows: runs } = await opts.pool.query<RunRow>(
    `SELECT id, kind, object_key, bytes::text AS bytes, finished_at,
            details->>'objectEtag' AS object_etag, details->>'manifestEtag' AS manifest_etag FROM backup_runs
      WHERE kind IN ('database', 'n8n') AND status = 'succeeded' AND object_key IS NOT NULL
        AND finished_at > now() - make_interval(secs => $1)
      ORDER BY finished_at`,
    // Younger than retention by a day: retention cannot have deleted these yet.
    [(opts.retentionDays - 1) * DAY_SECONDS],
  );
  const listed = new Map<string, ListedKey>();
  for (const kind of ['database', 'n8n'] as StoredKind[]) {
    for (const k of await listKeys(opts.bucket, kindPrefix(opts.bucket, kind))) listed.set(k.key, k);
  }
  const result: InventoryResult = { checked: runs.length, missing: [], replaced: [] };
  for (const run of runs) {
    const finding = (why: string): InventoryFinding => ({ kind: run.kind, runId: run.id, key: run.object_key, why });
    const object = listed.get(run.object_key);
    const manifest = listed.get(manifestKeyOf(run.object_key));
    if (!object || !manifest) {
      result.missing.push(finding(!object ? 'the object is gone' : 'its manifest is gone'));
      continue;
    }
    // The ETags S3 gave the run's writes, when recorded: any rewrite changes them. Without them
    // (older runs), a size that differs or a write after the run ended.
    const writtenAfter = (k: ListedKey) => (k.lastModified?.getTime() ?? 0) > run.finished_at.getTime() + MARGIN_SECONDS * 1000;
    if (run.object_etag && object.etag !== run.object_etag) {
      result.replaced.push(finding(`the object's ETag is ${object.etag}, the run stored ${run.object_etag}`));
    } else if (run.manifest_etag && manifest.etag !== run.manifest_etag) {
      result.replaced.push(finding(`its manifest's ETag is ${manifest.etag}, the run stored ${run.manifest_etag}`));
    } else if (run.bytes !== null && object.size !== Number(run.bytes)) {
      result.replaced.push(finding(`the object has ${object.size} bytes, the run wrote ${run.bytes}`));
    } else if (!run.object_etag && (writtenAfter(object) || writtenAfter(manifest))) {
      result.replaced.push(finding(`${writtenAfter(object) ? 'the object' : 'its manifest'} was written after the run ended`));
    }
  }
  const ok = result.missing.length === 0 && result.replaced.length === 0;
  await withTransaction(opts.pool, async (tx) => {
    await tx.query(
      'INSERT INTO backup_inventory_checks (checked, missing, replaced, findings) VALUES ($1, $2, $3, $4)',
      // The first findings are enough to act on; the counts are exact.
      [result.checked, result.missing.length, result.replaced.length, JSON.stringify([...result.missing, ...result.replaced].slice(0, 50))],
    );
    if (!ok) {
      await writeAudit(tx, {
        actor: opts.actor ?? 'system',
        action: 'backup.inventory',
        targetType: 'bucket',
        targetId: `${opts.bucket.bucket}/${opts.bucket.prefix}`,
        outcome: 'failure',
        details: { missing: result.missing.slice(0, 20), replaced: result.replaced.slice(0, 20) },
      });
    }
  });
  opts.log?.[ok ? 'info' : 'error'](
    { checked: result.checked, missing: result.missing.length, replaced: result.replaced.length },
    ok ? 'backup inventory matches the recorded backups' : 'backups were deleted or replaced outside retention',
  );
  return result;
}
