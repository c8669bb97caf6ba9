import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { UserError, errorMessage } from '@ct/lib';
import type { StorageConfig } from './config';

/**
 * The bucket side: object names, manifests, uploads and their clean-up. Object keys carry the
 * backup's UTC time, so listing sorts them by age and retention can read their date:
 *   <prefix>db/2026/01/15/20260115T060000Z.dump.enc           (+ .manifest.json beside it)
 *   <prefix>n8n/2026/01/15/20260115T023000Z.workflows.json.enc
 */

export type StoredKind = 'database' | 'n8n';

const KIND_DIR: Record<StoredKind, string> = { database: 'db', n8n: 'n8n' };
const KIND_SUFFIX: Record<StoredKind, string> = { database: '.dump.enc', n8n: '.workflows.json.enc' };
export const MANIFEST_SUFFIX = '.manifest.json';

export interface Bucket {
  s3: S3Client;
  bucket: string;
  prefix: string;
}

/** The commands that carry a backup's bytes (lib-storage's parts, or its single PUT of a small one). */
const UNSIGNED_BODY_COMMANDS = new Set(['UploadPartCommand', 'PutObjectCommand']);

export function createBucket(cfg: StorageConfig): Bucket {
  // The SDK warns on every start that releases after January 2027 will need Node 22; the version
  // pinned here runs on Node 20, and the warning would land in every command's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const s3 = new S3Client({
    region: cfg.S3_REGION,
    endpoint: cfg.S3_ENDPOINT,
    forcePathStyle: cfg.S3_FORCE_PATH_STYLE,
    credentials:
      cfg.S3_ACCESS_KEY_ID && cfg.S3_SECRET_ACCESS_KEY
        ? { accessKeyId: cfg.S3_ACCESS_KEY_ID, secretAccessKey: cfg.S3_SECRET_ACCESS_KEY }
        : undefined,
    // A vanished endpoint must fail the run, not hang it.
    requestHandler: { connectionTimeout: 5000, requestTimeout: 120_000 },
    maxAttempts: 3,
    // Integrity is ours end to end (GCM tags, sha256 in the manifest, checked before a restore);
    // the SDK's default CRC32 of every part, in JavaScript, cost a third of the throughput.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  // For the same reason the object's bytes are not signed: by default SigV4 hashes every part
  // (sha256 of the whole backup once more, on top of the manifest's) only to tell S3 what it
  // received. UNSIGNED-PAYLOAD still signs the request; the transport is TLS in production, and a
  // part damaged anyway fails the manifest's ciphertext sha256 and the GCM tags before any restore.
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (UNSIGNED_BODY_COMMANDS.has(context.commandName ?? '') && request.headers) {
        request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      }
      return next(args);
    },
    { step: 'build', name: 'ctUnsignedPayload' },
  );
  return { s3, bucket: cfg.S3_BUCKET, prefix: cfg.BACKUP_PREFIX };
}

export function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

export function kindPrefix(b: Bucket, kind: StoredKind): string {
  return `${b.prefix}${KIND_DIR[kind]}/`;
}

export function objectKeyFor(b: Bucket, kind: StoredKind, at: Date, suffix = ''): string {
  const iso = at.toISOString();
  return `${kindPrefix(b, kind)}${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${stamp(at)}${suffix}${KIND_SUFFIX[kind]}`;
}

/** The time encoded in an object key, or null for a key this module did not name. */
export function dateOfKey(key: string): Date | null {
  const m = /\/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z[^/]*$/.exec(key);
  if (!m) return null;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

export function describeS3Error(err: unknown): string {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const msg = errorMessage(err);
  if (e.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg)) return 'connection refused by the S3 endpoint';
  if (e.code === 'ECONNRESET' || /ECONNRESET|socket hang up/.test(msg)) return 'the S3 endpoint closed the connection';
  if (e.name === 'NoSuchBucket') return 'the bucket does not exist';
  if (e.name === 'AccessDenied' || e.$metadata?.httpStatusCode === 403) return 'access denied by S3 (check the credentials)';
  return `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${msg}`;
}

export async function exists(b: Bucket, key: string): Promise<boolean> {
  try {
    await b.s3.send(new HeadObjectCommand({ Bucket: b.bucket, Key: key }));
    return true;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

/**
 * The ETags of a backup's object and manifest as S3 stored them, recorded with the run so the
 * inventory notices either being rewritten (backup/src/inventory.ts). Undefined when S3 does not
 * answer: the backup is stored all the same, and the inventory falls back to sizes and times.
 */
export async function storedEtags(
  b: Bucket,
  key: string,
  manifestKey: string,
): Promise<{ objectEtag: string; manifestEtag: string } | undefined> {
  try {
    const [object, manifest] = await Promise.all(
      [key, manifestKey].map((Key) => b.s3.send(new HeadObjectCommand({ Bucket: b.bucket, Key }))),
    );
    return object!.ETag && manifest!.ETag ? { objectEtag: object!.ETag, manifestEtag: manifest!.ETag } : undefined;
  } catch {
    return undefined;
  }
}

export async function putJson(b: Bucket, key: string, value: unknown): Promise<void> {
  await b.s3.send(
    new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: `${JSON.stringify(value, null, 2)}\n`, ContentType: 'application/json' }),
  );
}

export async function getJson<T>(b: Bucket, key: string): Promise<T> {
  let res;
  try {
    res = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: key }));
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') throw new UserError(`no such object in s3://${b.bucket}/${key}`);
    throw new UserError(`cannot read s3://${b.bucket}/${key}: ${describeS3Error(err)}`);
  }
  const text = await res.Body!.transformToString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new UserError(`s3://${b.bucket}/${key} is not valid JSON`);
  }
}

/** The object as a stream; `etag` pins a second read to the very object the first one checked. */
export async function getStream(b: Bucket, key: string, etag?: string): Promise<{ body: Readable; etag: string; size: number }> {
  try {
    const res = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: key, IfMatch: etag }));
    return { body: res.Body as Readable, etag: res.ETag ?? '', size: Number(res.ContentLength ?? 0) };
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') throw new UserError(`no such object in s3://${b.bucket}/${key}`);
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412) {
      throw new UserError(`s3://${b.bucket}/${key} changed while it was being restored`);
    }
    throw new UserError(`cannot read s3://${b.bucket}/${key}: ${describeS3Error(err)}`);
  }
}

/**
 * S3's own clock, read from the Date header of a HEAD request on the bucket, beside the local
 * clock (`now`, injectable) at the middle of the round trip. The header has whole seconds.
 */
export async function s3Clock(b: Bucket, now: () => Date = () => new Date()): Promise<{ s3: Date; local: Date; skewSeconds: number }> {
  const cmd = new HeadBucketCommand({ Bucket: b.bucket });
  let header: string | undefined;
  cmd.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const headers = (result.response as { headers?: Record<string, string> }).headers ?? {};
      header = headers.date ?? headers.Date;
      return result;
    },
    { step: 'deserialize', name: 'ctReadDateHeader' },
  );
  const before = now().getTime();
  try {
    await b.s3.send(cmd);
  } catch (err) {
    throw new UserError(`cannot read S3's clock from s3://${b.bucket}: ${describeS3Error(err)}`);
  }
  const local = new Date((before + now().getTime()) / 2);
  const s3 = header ? new Date(header) : null;
  if (!s3 || Number.isNaN(s3.getTime())) throw new UserError(`S3 answered without a valid Date header (${header ?? 'none'})`);
  return { s3, local, skewSeconds: (local.getTime() - s3.getTime()) / 1000 };
}

export interface ListedKey {
  key: string;
  size: number;
  etag?: string;
  /** S3's own time of the object's last write (its clock, not ours). */
  lastModified?: Date;
}

export async function listKeys(b: Bucket, prefix: string): Promise<ListedKey[]> {
  const out: ListedKey[] = [];
  let token: string | undefined;
  do {
    const page = await b.s3.send(new ListObjectsV2Command({ Bucket: b.bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? [])
      if (o.Key) out.push({ key: o.Key, size: Number(o.Size ?? 0), etag: o.ETag, lastModified: o.LastModified });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export async function deleteKeys(b: Bucket, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const res = await b.s3.send(
      new DeleteObjectsCommand({ Bucket: b.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
    );
    if (res.Errors && res.Errors.length > 0) {
      throw new Error(`S3 refused to delete ${res.Errors.length} object(s), first ${res.Errors[0]!.Key}: ${res.Errors[0]!.Message}`);
    }
  }
}

export interface RefusedDelete {
  key: string;
  code: string;
  message: string;
}

/**
 * Deletes `keys` and returns those S3 refused, one by one (Object Lock's AccessDenied on a locked
 * version, a missing permission), instead of failing on the first: the rest are still deleted.
 * A request S3 rejects whole (unreachable, no such bucket) still throws.
 */
export async function deleteKeysReporting(b: Bucket, keys: string[]): Promise<RefusedDelete[]> {
  const refused: RefusedDelete[] = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const res = await b.s3.send(
      new DeleteObjectsCommand({ Bucket: b.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
    );
    for (const e of res.Errors ?? []) refused.push({ key: e.Key ?? '?', code: e.Code ?? 'Error', message: e.Message ?? '' });
  }
  return refused;
}

export interface IncompleteUpload {
  key: string;
  uploadId: string;
  initiated?: Date;
}

export async function listIncompleteUploads(b: Bucket, prefix: string): Promise<IncompleteUpload[]> {
  const out: IncompleteUpload[] = [];
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  do {
    const page = await b.s3.send(
      new ListMultipartUploadsCommand({ Bucket: b.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker }),
    );
    for (const u of page.Uploads ?? []) if (u.Key && u.UploadId) out.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated });
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    idMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker);
  return out;
}

/** Aborts incomplete multipart uploads under `prefix` (optionally only those started before `before`). */
export async function abortIncompleteUploads(b: Bucket, prefix: string, before?: Date): Promise<IncompleteUpload[]> {
  const uploads = (await listIncompleteUploads(b, prefix)).filter((u) => !before || !u.initiated || u.initiated < before);
  for (const u of uploads) {
    await b.s3.send(new AbortMultipartUploadCommand({ Bucket: b.bucket, Key: u.key, UploadId: u.uploadId }));
  }
  return uploads;
}

/**
 * Streams `body` to `key` as a multipart upload (a single PUT when it fits one part). When the
 * body fails or S3 does, `done` rejects; lib-storage then tries to abort the multipart upload, and
 * the caller sweeps again in case S3 was not there to hear it.
 */
export function startUpload(
  b: Bucket,
  key: string,
  body: Readable,
  opts: { partSizeBytes: number; concurrency: number },
): { done: Promise<void> } {
  const upload = new Upload({
    client: b.s3,
    params: { Bucket: b.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' },
    partSize: opts.partSizeBytes,
    queueSize: opts.concurrency,
    leavePartsOnError: false,
  });
  return { done: upload.done().then(() => undefined) };
}
