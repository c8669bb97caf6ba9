import { readFileSync } from 'node:fs';
import path from 'node:path';
import canonicalize from 'canonicalize';
import { UserError, type Logger } from '@ct/lib';
import { DecryptionError, macEquals, manifestMac, type Keyring } from './envelope';
import { MANIFEST_SUFFIX, dateOfKey, getJson, kindPrefix, listKeys, s3Clock, type Bucket, type StoredKind } from './storage';

export const MANIFEST_FORMAT = 'ct-backup-manifest/2';
/** Manifests written before they were authenticated: no `auth`, refused unless asked for. */
export const LEGACY_MANIFEST_FORMAT = 'ct-backup-manifest/1';

/**
 * HMAC-SHA256 over the manifest's canonical form (RFC 8785 JSON, `auth.mac` left out), keyed by
 * HKDF from the master key `keyId` under its own label. The manifest names its object key, kind,
 * run and time, so the MAC binds the backup to all four.
 */
export interface ManifestAuth {
  alg: 'HMAC-SHA256';
  keyId: string;
  mac: string;
}

/** The JSON document stored beside every backup object; written last, so its presence means "complete". */
export interface Manifest {
  format: typeof MANIFEST_FORMAT | typeof LEGACY_MANIFEST_FORMAT;
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
    /**
     * The audit chain's head in the dump's snapshot: an anchor that `ct audit verify` checks the
     * live chain against (null for an empty chain; absent in older manifests).
     */
    auditChainHead?: { id: string; hash: string } | null;
  };
  n8n?: { url: string; workflows: number };
  /** Absent only in legacy manifests. */
  auth?: ManifestAuth;
}

let version: string | null = null;
export function toolVersion(): string {
  version ??= (JSON.parse(readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

export const manifestKeyOf = (objectKey: string) => `${objectKey}${MANIFEST_SUFFIX}`;

function macInput(manifest: Manifest, keyId: string): string {
  const { auth: _auth, ...rest } = manifest;
  return `${MANIFEST_FORMAT}\n${canonicalize({ ...rest, auth: { alg: 'HMAC-SHA256', keyId } })}`;
}

/** Authenticates a manifest with the current master key (what a backup run stores). */
export function signManifest(manifest: Omit<Manifest, 'auth' | 'format'>, keyring: Keyring): Manifest {
  const unsigned: Manifest = { ...manifest, format: MANIFEST_FORMAT };
  const keyId = keyring.currentId;
  return { ...unsigned, auth: { alg: 'HMAC-SHA256', keyId, mac: manifestMac(keyring, keyId, macInput(unsigned, keyId)) } };
}

export interface ManifestCheck {
  /** False only for a legacy (unauthenticated) manifest accepted with `allowUnauthenticated`. */
  authenticated: boolean;
}

/**
 * Refuses a manifest that does not authenticate, or that does not describe the object being read:
 * another object key (an older backup copied under a newer name), another kind, or a time that is
 * not the one in the object's name. Legacy manifests (no `auth`) are refused unless
 * `allowUnauthenticated`, and then accepted with a warning.
 */
export function checkManifest(
  backup: StoredBackup,
  manifest: Manifest,
  keyring: Keyring,
  opts: { allowUnauthenticated?: boolean; log?: Logger } = {},
): ManifestCheck {
  let authenticated = false;
  if (manifest.format === LEGACY_MANIFEST_FORMAT && manifest.auth === undefined) {
    if (!opts.allowUnauthenticated) {
      throw new DecryptionError(
        `the manifest of ${backup.key} is not authenticated (written before manifests were signed), so it cannot prove ` +
          'which backup it describes; restore it only if you trust the bucket, with --allow-unauthenticated',
      );
    }
    opts.log?.warn({ key: backup.key }, 'restoring from an unauthenticated (legacy) manifest, as asked');
  } else {
    const auth = manifest.auth;
    if (manifest.format !== MANIFEST_FORMAT || !auth || auth.alg !== 'HMAC-SHA256' || typeof auth.mac !== 'string') {
      throw new DecryptionError(`the manifest of ${backup.key} names an unknown format or carries no valid authentication`);
    }
    if (!macEquals(manifestMac(keyring, auth.keyId, macInput(manifest, auth.keyId)), auth.mac)) {
      throw new DecryptionError(
        `the manifest of ${backup.key} does not authenticate with master key "${auth.keyId}": ` +
          'the manifest was modified, or this is the wrong master key (the key under that id changed since the backup was made)',
      );
    }
    authenticated = true;
  }
  if (manifest.objectKey !== backup.key) {
    throw new DecryptionError(
      `the manifest read for ${backup.key} describes another object (${manifest.objectKey}): ` +
        'a backup was copied or moved under this name',
    );
  }
  if (manifest.kind !== backup.kind) {
    throw new DecryptionError(`the manifest of ${backup.key} describes a ${manifest.kind} backup, not a ${backup.kind} one`);
  }
  const named = dateOfKey(backup.key);
  const created = new Date(manifest.createdAt);
  if (!named || Number.isNaN(created.getTime()) || Math.floor(created.getTime() / 1000) !== named.getTime() / 1000) {
    throw new DecryptionError(`the manifest of ${backup.key} was made at ${manifest.createdAt}, not at the time in the object's name`);
  }
  return { authenticated };
}

export interface StoredBackup {
  key: string;
  manifestKey: string;
  kind: StoredKind;
}

export interface ListedBackup extends StoredBackup {
  /** S3's time of the manifest's write (the last step of a backup): the backup's age. */
  lastModified: Date;
}

/** Complete backups of a kind (those with a manifest, written last), oldest first by S3's own timestamps. */
export async function listBackups(b: Bucket, kind: StoredKind): Promise<ListedBackup[]> {
  const keys = await listKeys(b, kindPrefix(b, kind));
  return keys
    .filter((k) => k.key.endsWith(MANIFEST_SUFFIX))
    .map((k) => ({ key: k.key.slice(0, -MANIFEST_SUFFIX.length), manifestKey: k.key, kind, lastModified: k.lastModified ?? new Date(0) }))
    .sort((x, y) => x.lastModified.getTime() - y.lastModified.getTime() || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

/** Default tolerance between clocks (the local one, S3's, an object's name), in seconds. */
export const DEFAULT_MAX_CLOCK_SKEW_SECONDS = 300;

/**
 * Whether a backup claims a time S3 cannot have seen yet: its name dated after S3's clock (or
 * after S3 stored it), beyond the tolerance. Such an object is never `latest`.
 */
export function isFutureDated(backup: ListedBackup, s3Now: Date, maxSkewSeconds = DEFAULT_MAX_CLOCK_SKEW_SECONDS): boolean {
  const slack = maxSkewSeconds * 1000;
  const named = dateOfKey(backup.key)?.getTime() ?? 0;
  return (
    named > s3Now.getTime() + slack ||
    named > backup.lastModified.getTime() + slack ||
    backup.lastModified.getTime() > s3Now.getTime() + slack
  );
}

/**
 * The newest backup of a kind by S3's own timestamps, leaving out future-dated ones; null when
 * there is none. `s3Now` is S3's clock (read when not given).
 */
export async function latestBackup(
  b: Bucket,
  kind: StoredKind,
  opts: { maxSkewSeconds?: number; s3Now?: Date; all?: ListedBackup[] } = {},
): Promise<{ latest: ListedBackup | null; futureDated: ListedBackup[]; all: ListedBackup[] }> {
  const all = opts.all ?? (await listBackups(b, kind));
  if (all.length === 0) return { latest: null, futureDated: [], all };
  const s3Now = opts.s3Now ?? (await s3Clock(b)).s3;
  const futureDated = all.filter((x) => isFutureDated(x, s3Now, opts.maxSkewSeconds));
  const usable = all.filter((x) => !futureDated.includes(x));
  return { latest: usable.at(-1) ?? null, futureDated, all };
}

/**
 * Finds a backup by `latest`, run id (uuid) or object key. Works from the bucket alone, so a
 * restore onto a fresh server needs no platform database. `latest` is the newest by S3's own
 * timestamps, never a future-dated one. The manifest is returned as read: `checkManifest`
 * authenticates it against the object before anything trusts it.
 */
export async function resolveBackup(
  b: Bucket,
  kind: StoredKind,
  ref: string,
  opts: { maxSkewSeconds?: number; log?: Logger } = {},
): Promise<{ backup: ListedBackup; manifest: Manifest }> {
  const all = await listBackups(b, kind);
  if (all.length === 0) throw new UserError(`no ${kind} backups found in s3://${b.bucket}/${kindPrefix(b, kind)}`);
  if (ref === 'latest') {
    const { latest, futureDated } = await latestBackup(b, kind, { maxSkewSeconds: opts.maxSkewSeconds, all });
    if (futureDated.length > 0) {
      opts.log?.warn({ keys: futureDated.map((x) => x.key) }, `ignored future-dated ${kind} backups when choosing the latest`);
    }
    if (!latest) {
      throw new UserError(
        `every ${kind} backup in s3://${b.bucket}/${kindPrefix(b, kind)} is dated in the future (${futureDated.map((x) => x.key).join(', ')}); ` +
          'name one explicitly if you trust it',
      );
    }
    return { backup: latest, manifest: await getJson<Manifest>(b, latest.manifestKey) };
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
