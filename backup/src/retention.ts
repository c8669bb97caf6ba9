import { UserError, withTransaction, writeAudit, type Logger, type Pool } from '@ct/lib';
import { DEFAULT_MAX_CLOCK_SKEW_SECONDS } from './manifest';
import {
  MANIFEST_SUFFIX,
  abortIncompleteUploads,
  dateOfKey,
  deleteKeysReporting,
  kindPrefix,
  listKeys,
  s3Clock,
  type Bucket,
  type RefusedDelete,
  type StoredKind,
} from './storage';

export interface RetentionResult {
  deleted: string[];
  /** The newest complete backups of each kind (`keep` of them), kept whatever their age. */
  keptNewest: string[];
  kept: number;
  /** Old enough to go, but over this pass's share: left for the next passes. */
  deferred: string[];
  /** Objects S3 refused to delete (Object Lock, permissions): reported, not fatal. */
  refused: RefusedDelete[];
  abortedUploads: number;
  clock: { local: string; s3: string; skewSeconds: number };
}

export interface RetentionOptions {
  bucket: Bucket;
  retentionDays: number;
  /** Newest complete backups of each kind never deleted (defaults: 4 database, 2 n8n). */
  keep?: Partial<Record<StoredKind, number>>;
  /** At most this share (0–1] of a kind's backups is deleted in one pass (default 0.25). */
  maxDeleteShare?: number;
  /** Refuse to run when the local clock and S3's disagree by more (seconds, default 300). */
  maxClockSkewSeconds?: number;
  /** The local clock (tests skew it). */
  now?: () => Date;
  pool?: Pool;
  actor?: string;
  log?: Logger;
}

export const DEFAULT_KEEP: Record<StoredKind, number> = { database: 4, n8n: 2 };
export const DEFAULT_MAX_DELETE_SHARE = 0.25;
const DAY = 86_400_000;

/**
 * Deletes backups (object and manifest) older than `retentionDays` by S3's own timestamps
 * (LastModified, S3's clock; never the time in the name nor the local clock), with three guards:
 * the newest `keep` complete backups of each kind are never deleted, whatever their age; at most
 * `maxDeleteShare` of a kind's backups go in one pass (the oldest first, the rest next time); and
 * the pass refuses to run at all when the local clock and S3's disagree by more than
 * `maxClockSkewSeconds`. A delete S3 refuses (Object Lock) is reported and the pass goes on.
 * Multipart uploads abandoned for more than a day are aborted too. Deletes name no version: on a
 * versioned bucket they leave delete markers, and the bucket's lifecycle rule removes the locked
 * versions later (docs/backup.md, production bucket).
 */
export async function applyRetention(opts: RetentionOptions): Promise<RetentionResult> {
  const keep = { ...DEFAULT_KEEP, ...opts.keep };
  const share = opts.maxDeleteShare ?? DEFAULT_MAX_DELETE_SHARE;
  const maxSkew = opts.maxClockSkewSeconds ?? DEFAULT_MAX_CLOCK_SKEW_SECONDS;
  if (!(share > 0 && share <= 1))
    throw new UserError(`the share of backups retention may delete in one pass must be in (0, 1], got ${share}`);
  for (const [kind, n] of Object.entries(keep)) {
    if (!Number.isInteger(n) || n < 1) throw new UserError(`retention must keep at least 1 ${kind} backup, got ${n}`);
  }
  const target = `${opts.bucket.bucket}/${opts.bucket.prefix}`;
  const audit = async (outcome: 'success' | 'failure', details: Record<string, unknown>) => {
    if (!opts.pool) return;
    await withTransaction(opts.pool, (tx) =>
      writeAudit(tx, {
        actor: opts.actor ?? 'system',
        action: 'backup.retention',
        targetType: 'bucket',
        targetId: target,
        outcome,
        details,
      }),
    );
  };

  const clock = await s3Clock(opts.bucket, opts.now);
  const clockInfo = { local: clock.local.toISOString(), s3: clock.s3.toISOString(), skewSeconds: Math.round(clock.skewSeconds) };
  if (Math.abs(clock.skewSeconds) > maxSkew) {
    const why =
      `retention refused to run: the local clock (${clockInfo.local}) and S3's (${clockInfo.s3}) disagree by ` +
      `${humanSeconds(Math.abs(clock.skewSeconds))}, more than BACKUP_MAX_CLOCK_SKEW_SECONDS (${maxSkew} s); ` +
      'fix the clock (NTP) first. Nothing was deleted';
    await audit('failure', { error: why, clock: clockInfo });
    throw new UserError(why);
  }
  // Ages are measured on S3's clock alone: LastModified against S3's now.
  const cutoff = clock.s3.getTime() - opts.retentionDays * DAY;
  const result: RetentionResult = { deleted: [], keptNewest: [], kept: 0, deferred: [], refused: [], abortedUploads: 0, clock: clockInfo };

  for (const kind of ['database', 'n8n'] as StoredKind[]) {
    const prefix = kindPrefix(opts.bucket, kind);
    const keys = await listKeys(opts.bucket, prefix);
    // One entry per backup: the object and its manifest share a base name; its time is the later
    // of their LastModified (a rewrite of either makes the backup young again, never old).
    const baseOf = (k: string) => (k.endsWith(MANIFEST_SUFFIX) ? k.slice(0, -MANIFEST_SUFFIX.length) : k);
    const backups = new Map<string, { keys: string[]; time: number }>();
    for (const k of keys) {
      const base = baseOf(k.key);
      const entry = backups.get(base) ?? { keys: [], time: 0 };
      entry.keys.push(k.key);
      entry.time = Math.max(entry.time, k.lastModified?.getTime() ?? Number.MAX_SAFE_INTEGER);
      backups.set(base, entry);
    }
    const byAge = [...backups.entries()].sort(([a, x], [b, y]) => x.time - y.time || (a < b ? -1 : a > b ? 1 : 0));
    const complete = byAge.filter(([, e]) => e.keys.length === 2).map(([base]) => base);
    const newest = new Set(complete.slice(-keep[kind]));
    result.keptNewest.push(...complete.slice(-keep[kind]));
    // Only names this module gives are ever deleted; the oldest first.
    const due = byAge.filter(([base, e]) => !newest.has(base) && dateOfKey(base) !== null && e.time < cutoff).map(([base]) => base);
    const allowed = Math.max(1, Math.floor(share * backups.size));
    const now = due.slice(0, allowed);
    const later = due.slice(allowed);
    if (later.length > 0) {
      opts.log?.warn(
        { kind, due: due.length, allowed, share },
        `retention: ${due.length} ${kind} backups are due, more than ${Math.round(share * 100)} % of ${backups.size}; ` +
          `deleting the ${allowed} oldest, the rest in the next passes`,
      );
    }
    const refused = await deleteKeysReporting(
      opts.bucket,
      now.flatMap((base) => backups.get(base)!.keys),
    );
    if (refused.length > 0) {
      opts.log?.warn({ kind, refused }, `S3 refused to delete ${refused.length} ${kind} backup object(s) (Object Lock?); they stay`);
    }
    const refusedBases = new Set(refused.map((r) => baseOf(r.key)));
    result.deleted.push(...now.filter((b) => !refusedBases.has(b)));
    result.refused.push(...refused);
    result.deferred.push(...later);
    result.kept += backups.size - now.length + refusedBases.size;
    result.abortedUploads += (await abortIncompleteUploads(opts.bucket, prefix, new Date(clock.s3.getTime() - DAY)).catch(() => [])).length;
  }
  opts.log?.info(
    { deleted: result.deleted.length, kept: result.kept, deferred: result.deferred.length, refused: result.refused.length },
    'retention pass done',
  );
  await audit('success', {
    retentionDays: opts.retentionDays,
    keep,
    maxDeleteShare: share,
    deleted: result.deleted,
    keptNewest: result.keptNewest,
    deferred: result.deferred,
    refused: result.refused,
    clock: clockInfo,
  });
  return result;
}

function humanSeconds(s: number): string {
  if (s >= 2 * 86_400) return `${Math.round(s / 86_400)} days`;
  if (s >= 2 * 3600) return `${Math.round(s / 3600)} hours`;
  if (s >= 120) return `${Math.round(s / 60)} minutes`;
  return `${Math.round(s)} s`;
}
