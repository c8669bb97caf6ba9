import { parseEnv, verifyAndRecordAuditChain, type AuditAnchor, type Logger, type Pool, type RecordedVerification } from '@ct/lib';
import { storageSchema, type StorageConfig } from './config';
import { listBackups, type Manifest } from './manifest';
import { createBucket, getJson, listKeys, putJson, stamp, type Bucket } from './storage';

/**
 * The audit chain's head, recorded outside the database. Whoever owns the database can rewrite a
 * row and recompute every later hash and the head, and the chain verifies again; it can no longer
 * match a head written to S3 before the rewrite. Anchors are written by the scheduled
 * verification (one object per new head) and by every database backup (in its manifest), both by
 * the scheduler, which holds the S3 write credentials; the database's roles hold none.
 *
 *   <prefix>audit-anchors/<database>/<YYYY>/<MM>/<stamp>-<row id>-<hash>.json
 *
 * The row id and hash are in the key itself, so one listing reads every anchor; the object's body
 * says the same for a reader. Anchors are grouped by database name, as the manifests name it.
 */

export const ANCHOR_FORMAT = 'ct-audit-anchor/1';
const ANCHOR_KEY = /\/(\d{8}T\d{6}Z)-(\d{1,19})-([0-9a-f]{64})\.json$/;

export interface AnchorObject {
  format: typeof ANCHOR_FORMAT;
  database: string;
  id: string;
  hash: string;
  recordedAt: string;
  rowsChecked: number;
}

export function anchorPrefix(b: Bucket, database: string): string {
  return `${b.prefix}audit-anchors/${database}/`;
}

export function anchorKey(b: Bucket, database: string, head: { id: string; hash: string }, at: Date): string {
  const iso = at.toISOString();
  return `${anchorPrefix(b, database)}${iso.slice(0, 4)}/${iso.slice(5, 7)}/${stamp(at)}-${head.id}-${head.hash}.json`;
}

/**
 * Every anchor of `database` in the bucket, oldest first: the anchor objects and the chain heads
 * in database backups' manifests. Each is named by where it was read.
 */
export async function listAnchors(b: Bucket, database: string): Promise<AuditAnchor[]> {
  const anchors: AuditAnchor[] = [];
  for (const k of await listKeys(b, anchorPrefix(b, database))) {
    const m = ANCHOR_KEY.exec(k.key);
    if (m) anchors.push({ id: m[2]!, hash: m[3]!, name: `s3://${b.bucket}/${k.key}` });
  }
  for (const backup of await listBackups(b, 'database')) {
    const manifest = await getJson<Manifest>(b, backup.manifestKey);
    const head = manifest.database?.auditChainHead;
    if (manifest.database?.name === database && head && /^\d{1,19}$/.test(head.id) && /^[0-9a-f]{64}$/.test(head.hash)) {
      anchors.push({ id: head.id, hash: head.hash, name: `s3://${b.bucket}/${backup.manifestKey}` });
    }
  }
  return anchors;
}

/** Writes the anchor of a verified head; returns its object key. */
export async function writeAnchor(
  b: Bucket,
  database: string,
  head: { id: string; hash: string },
  rowsChecked: number,
  at = new Date(),
): Promise<string> {
  const key = anchorKey(b, database, head, at);
  const body: AnchorObject = { format: ANCHOR_FORMAT, database, id: head.id, hash: head.hash, recordedAt: at.toISOString(), rowsChecked };
  await putJson(b, key, body);
  return key;
}

export interface AnchoredVerification extends RecordedVerification {
  database: string;
  /** The anchor object written after this check (null: the check failed, the chain is empty, or the head was anchored already). */
  anchoredAs: string | null;
}

/**
 * `ct audit verify` with anchors, and the scheduler's audit-verify job: verifies the chain in the
 * database, checks it still holds every anchor in the bucket, records the result (what
 * ct_audit_chain_valid and ct_audit_chain_anchor_contradicted report), and after a successful
 * check anchors the head it verified, unless that head is anchored already.
 */
export async function verifyAuditChainAnchored(deps: { pool: Pool; bucket: Bucket; log?: Logger }): Promise<AnchoredVerification> {
  const { rows } = await deps.pool.query<{ db: string }>('SELECT current_database() AS db');
  const database = rows[0]!.db;
  const anchors = await listAnchors(deps.bucket, database);
  const result = await verifyAndRecordAuditChain(deps.pool, anchors);
  let anchoredAs: string | null = null;
  if (result.ok && result.head && !anchors.some((a) => a.id === result.head!.id && a.hash === result.head!.hash)) {
    anchoredAs = `s3://${deps.bucket.bucket}/${await writeAnchor(deps.bucket, database, result.head, result.rowsChecked)}`;
  }
  if (!result.ok)
    deps.log?.error({ database, firstBadId: result.firstBadId, anchor: result.contradictedAnchor }, result.reason ?? 'audit chain broken');
  return { ...result, database, anchoredAs };
}

/** Where anchors live: the backup bucket's settings, without the master key (anchors are not encrypted). */
export const anchorStoreSchema = storageSchema.pick({
  S3_ENDPOINT: true,
  S3_REGION: true,
  S3_BUCKET: true,
  S3_ACCESS_KEY_ID: true,
  S3_SECRET_ACCESS_KEY: true,
  S3_FORCE_PATH_STYLE: true,
  BACKUP_PREFIX: true,
});

/** The anchor store from the environment; null when S3_BUCKET is not set. */
export function anchorBucketFromEnv(env: NodeJS.ProcessEnv = process.env): Bucket | null {
  if (!env.S3_BUCKET) return null;
  return createBucket(parseEnv(anchorStoreSchema, env) as StorageConfig);
}
