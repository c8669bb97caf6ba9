import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '@ct/lib';
import { MANIFEST_SUFFIX, getJson, kindPrefix, listKeys, type Bucket, type StoredKind } from './storage';

/** The JSON document stored beside every backup object; written last, so its presence means "complete". */
export interface Manifest {
  format: 'ct-backup-manifest/1';
  kind: StoredKind;
  runId: string;
  objectKey: string;
  createdAt: string;
  finishedAt: string;
  durationSeconds: number;
  tool: { name: string; version: string };
  encryption: { algorithm: 'AES-256-GCM-STREAM'; keyId: string; chunkSize: number };
  compression: { algorithm: 'zstd' | 'none'; level?: number };
  /**
   * "plaintext" is what was encrypted: for a database backup the zstd-compressed pg_dump archive
   * (zstd adds its own content checksum for the dump inside); `dumpBytes` is the archive's size
   * before compression.
   */
  sizes: { dumpBytes?: number | null; plaintextBytes: number; ciphertextBytes: number };
  sha256: { plaintext: string; ciphertext: string };
  database?: {
    name: string;
    serverVersion: string;
    pgDumpVersion: string;
    sizeBytes: number;
    schemaVersion: string | null;
    migrations: { name: string; sha256: string }[];
    rowCounts: Record<string, number>;
  };
  n8n?: { url: string; workflows: number };
}

let version: string | null = null;
export function toolVersion(): string {
  version ??= (JSON.parse(readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

export const manifestKeyOf = (objectKey: string) => `${objectKey}${MANIFEST_SUFFIX}`;

export interface StoredBackup {
  key: string;
  manifestKey: string;
  kind: StoredKind;
}

/** Complete backups of a kind (those with a manifest), oldest first. */
export async function listBackups(b: Bucket, kind: StoredKind): Promise<StoredBackup[]> {
  const keys = await listKeys(b, kindPrefix(b, kind));
  return keys
    .filter((k) => k.key.endsWith(MANIFEST_SUFFIX))
    .map((k) => ({ key: k.key.slice(0, -MANIFEST_SUFFIX.length), manifestKey: k.key, kind }));
}

/**
 * Finds a backup by `latest`, run id (uuid) or object key. Works from the bucket alone, so a
 * restore onto a fresh server needs no platform database.
 */
export async function resolveBackup(b: Bucket, kind: StoredKind, ref: string): Promise<{ backup: StoredBackup; manifest: Manifest }> {
  const all = await listBackups(b, kind);
  if (all.length === 0) throw new UserError(`no ${kind} backups found in s3://${b.bucket}/${kindPrefix(b, kind)}`);
  if (ref === 'latest') {
    const backup = all[all.length - 1]!;
    return { backup, manifest: await getJson<Manifest>(b, backup.manifestKey) };
  }
  const byKey = all.find((x) => x.key === ref || x.key === `${b.prefix}${ref}` || x.manifestKey === ref);
  if (byKey) return { backup: byKey, manifest: await getJson<Manifest>(b, byKey.manifestKey) };
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ref)) {
    for (const backup of [...all].reverse()) {
      const manifest = await getJson<Manifest>(b, backup.manifestKey);
      if (manifest.runId === ref) return { backup, manifest };
    }
  }
  throw new UserError(`no ${kind} backup matches "${ref}" (use latest, a run id or an object key; see ct backup list)`);
}
