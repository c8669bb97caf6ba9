import { withTransaction, writeAudit, type Logger, type Pool } from '@ct/lib';
import {
  MANIFEST_SUFFIX,
  abortIncompleteUploads,
  dateOfKey,
  deleteKeys,
  kindPrefix,
  listKeys,
  type Bucket,
  type StoredKind,
} from './storage';

export interface RetentionResult {
  deleted: string[];
  /** The newest complete backup of each kind, kept whatever its age. */
  keptNewest: string[];
  kept: number;
  abortedUploads: number;
}

const DAY = 86_400_000;

/**
 * Deletes backups (object and manifest) older than `retentionDays`, judged by the time in their
 * name, but never the newest complete backup of a kind — a platform whose backups stopped a month
 * ago must still have one. Multipart uploads abandoned for more than a day are aborted too.
 * The bucket-side equivalent is the lifecycle rule in docs/backup.md.
 */
export async function applyRetention(opts: {
  bucket: Bucket;
  retentionDays: number;
  now?: Date;
  pool?: Pool;
  actor?: string;
  log?: Logger;
}): Promise<RetentionResult> {
  const now = opts.now ?? new Date();
  const cutoff = now.getTime() - opts.retentionDays * DAY;
  const result: RetentionResult = { deleted: [], keptNewest: [], kept: 0, abortedUploads: 0 };
  for (const kind of ['database', 'n8n'] as StoredKind[]) {
    const prefix = kindPrefix(opts.bucket, kind);
    const keys = await listKeys(opts.bucket, prefix);
    const names = new Set(keys.map((k) => k.key));
    // One entry per backup: the object and its manifest share a base name.
    const baseOf = (k: string) => (k.endsWith(MANIFEST_SUFFIX) ? k.slice(0, -MANIFEST_SUFFIX.length) : k);
    const bases = [...new Set(keys.map((k) => baseOf(k.key)))];
    const complete = bases.filter((b) => names.has(b) && names.has(`${b}${MANIFEST_SUFFIX}`));
    const time = (k: string) => dateOfKey(k)?.getTime() ?? 0;
    const newest = complete.sort((a, b) => time(a) - time(b) || (a < b ? -1 : 1)).at(-1);
    if (newest) result.keptNewest.push(newest);
    const doomed: string[] = [];
    for (const base of bases) {
      const at = dateOfKey(base);
      if (!at || base === newest || at.getTime() >= cutoff) result.kept++;
      else doomed.push(base);
    }
    const toDelete = doomed.flatMap((base) => [base, `${base}${MANIFEST_SUFFIX}`].filter((k) => names.has(k)));
    if (toDelete.length > 0) await deleteKeys(opts.bucket, toDelete);
    result.deleted.push(...doomed);
    result.abortedUploads += (await abortIncompleteUploads(opts.bucket, prefix, new Date(now.getTime() - DAY)).catch(() => [])).length;
  }
  opts.log?.info({ deleted: result.deleted.length, kept: result.kept }, 'retention pass done');
  if (opts.pool) {
    await withTransaction(opts.pool, (tx) =>
      writeAudit(tx, {
        actor: opts.actor ?? 'system',
        action: 'backup.retention',
        targetType: 'bucket',
        targetId: `${opts.bucket.bucket}/${opts.bucket.prefix}`,
        outcome: 'success',
        details: { retentionDays: opts.retentionDays, deleted: result.deleted, keptNewest: result.keptNewest },
      }),
    );
  }
  return result;
}
