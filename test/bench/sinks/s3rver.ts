/**
 * s3rver for the bench, plus the two multipart calls it lacks and real S3 has:
 * ListMultipartUploads (GET /bucket?uploads) and AbortMultipartUpload (DELETE /bucket/key?uploadId=).
 * Backups must prove they abort an interrupted multipart upload, so the bench must be able to
 * list and abort them. CompleteMultipartUpload gives the object S3's multipart ETag (see
 * `completeMultipart`). Objects written with an Object Lock in compliance mode refuse deletion until
 * their retain-until date (see `objectLock`). Everything else is s3rver unchanged.
 *
 *   node --import tsx s3rver.ts <dataDir> <port> <bucket>
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver');
// s3rver's own XML parser and entity decoder, for the DeleteObjects requests answered here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const xmlParser = require('fast-xml-parser');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const he = require('he');

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  headers: Record<string, string | string[] | undefined>;
  req: NodeJS.ReadableStream;
  status: number;
  body: unknown;
}

const [dataDir, port, bucket] = process.argv.slice(2) as [string, string, string];

const server = new S3rver({
  directory: dataDir,
  address: '127.0.0.1',
  port: Number(port),
  silent: true,
  configureBuckets: [{ name: bucket }],
});

function uploadsDir(name: string): string {
  // Where s3rver's filesystem store keeps in-progress multipart uploads (one folder per upload id).
  return server.store.getResourcePath(name, undefined, 'uploads') as string;
}

function uploadsOf(name: string): { Key: string; UploadId: string; Initiated: string }[] {
  const dir = uploadsDir(name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((id) => existsSync(path.join(dir, id, 'key')))
    .map((id) => ({
      Key: readFileSync(path.join(dir, id, 'key'), 'utf8'),
      UploadId: id,
      Initiated: statSync(path.join(dir, id)).mtime.toISOString(),
    }));
}

const multipart = async (ctx: KoaContext, next: () => Promise<void>) => {
  const parts = ctx.path.split('/').filter(Boolean);
  const name = parts[0];
  if (name && parts.length === 1 && ctx.method === 'GET' && ctx.query.uploads !== undefined) {
    const prefix = ctx.query.prefix ?? '';
    const uploads = uploadsOf(name).filter((u) => u.Key.startsWith(prefix));
    ctx.status = 200;
    ctx.body = {
      ListMultipartUploadsResult: {
        Bucket: name,
        Prefix: prefix,
        MaxUploads: 1000,
        IsTruncated: false,
        ...(uploads.length > 0 ? { Upload: uploads } : {}),
      },
    };
    return;
  }
  if (name && parts.length > 1 && ctx.method === 'DELETE' && ctx.query.uploadId) {
    const dir = path.join(uploadsDir(name), path.basename(ctx.query.uploadId));
    if (!existsSync(dir)) {
      ctx.status = 404;
      ctx.body = { Error: { Code: 'NoSuchUpload', Message: 'The specified upload does not exist.' } };
      return;
    }
    rmSync(dir, { recursive: true, force: true });
    ctx.status = 204;
    ctx.body = null;
    return;
  }
  await next();
};

/**
 * Object Lock, compliance mode, as far as a delete is concerned: an object PUT with
 * `x-amz-object-lock-mode: COMPLIANCE` and `x-amz-object-lock-retain-until-date` cannot be
 * deleted before that date — a single DELETE answers 403 AccessDenied, and DeleteObjects lists it
 * under `Error` with code AccessDenied while deleting the others, as S3 does for a delete it denies.
 * (On a real versioned bucket a delete without a version id adds a delete marker instead; this is
 * the refusal the application must survive.) Locks are kept in memory, for the life of the process.
 */
const locks = new Map<string, number>();
const lockedUntil = (name: string, key: string) => {
  const until = locks.get(`${name}/${key}`);
  return until !== undefined && until > Date.now() ? until : null;
};
const accessDenied = (key: string, until: number) => ({
  Code: 'AccessDenied',
  Message: `Access Denied because object protected by object lock until ${new Date(until).toISOString()}`,
  Key: key,
});

const objectLock = async (ctx: KoaContext, next: () => Promise<void>) => {
  const parts = ctx.path.split('/').filter(Boolean).map(decodeURIComponent);
  const name = parts[0];
  const key = parts.slice(1).join('/');
  if (name && key && ctx.method === 'PUT' && ctx.query.uploadId === undefined && ctx.headers['x-amz-object-lock-mode'] === 'COMPLIANCE') {
    const until = Date.parse(String(ctx.headers['x-amz-object-lock-retain-until-date'] ?? ''));
    await next();
    if (ctx.status === 200 && !Number.isNaN(until)) locks.set(`${name}/${key}`, until);
    return;
  }
  if (name && key && ctx.method === 'DELETE' && ctx.query.uploadId === undefined) {
    const until = lockedUntil(name, key);
    if (until !== null) {
      ctx.status = 403;
      ctx.body = { Error: accessDenied(key, until) };
      return;
    }
  }
  if (name && !key && ctx.method === 'POST' && ctx.query.delete !== undefined && locks.size > 0) {
    // s3rver's own handler reads the body, so with locks in play the whole request is answered here.
    let xml = '';
    for await (const chunk of ctx.req) xml += chunk.toString();
    if (xmlParser.validate(xml) !== true) {
      ctx.status = 400;
      ctx.body = { Error: { Code: 'MalformedXML', Message: 'The XML you provided was not well-formed.' } };
      return;
    }
    const parsed = xmlParser.parse(xml, { tagValueProcessor: (a: string) => he.decode(a) }) as {
      Delete?: { Object?: { Key: string } | { Key: string }[]; Quiet?: boolean };
    };
    const keys = ([] as { Key: string }[]).concat(parsed.Delete?.Object ?? []).map((o) => String(o.Key));
    const deleted: { Key: string }[] = [];
    const errors: ReturnType<typeof accessDenied>[] = [];
    for (const k of keys) {
      const until = lockedUntil(name, k);
      if (until !== null) {
        errors.push(accessDenied(k, until));
        continue;
      }
      if (await server.store.existsObject(name, k)) await server.store.deleteObject(name, k);
      deleted.push({ Key: k });
    }
    ctx.status = 200;
    ctx.body = {
      DeleteResult: {
        '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
        ...(parsed.Delete?.Quiet === true || deleted.length === 0 ? {} : { Deleted: deleted }),
        ...(errors.length > 0 ? { Error: errors } : {}),
      },
    };
    return;
  }
  await next();
};

/**
 * S3's CompleteMultipartUpload: the object is its parts in order, and its ETag is the md5 of the
 * parts' md5s followed by "-<number of parts>" — S3 never hashes a multipart object whole.
 * s3rver instead re-reads the parts through a JavaScript stream and md5s the whole object again.
 * This bench shares two cores between the S3 server and what uploads to it, so that extra pass
 * would be charged to the uploader's timings (docs/benchmarks.md); here the parts are joined in
 * 8 MiB reads and writes, and the ETag is S3's. Same store layout, so every other s3rver route
 * (GET, HEAD, listing) reads the object as before.
 */
async function completeMultipart(bucket: string, uploadId: string, parts: { number: number }[]): Promise<{ size: number; md5: string }> {
  const store = server.store;
  const uploadDir = path.join(uploadsDir(bucket), uploadId);
  const key = await readFile(path.join(uploadDir, 'key'), 'utf8');
  const metadata = JSON.parse(await readFile(path.join(uploadDir, 'metadata'), 'utf8')) as Record<string, string>;
  const objectPath = store.getResourcePath(bucket, key, 'object') as string;
  await mkdir(path.dirname(objectPath), { recursive: true });
  const sorted = [...parts].sort((a, b) => a.number - b.number);
  const etag = createHash('md5');
  const out = await open(objectPath, 'w');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  let size = 0;
  try {
    for (const part of sorted) {
      const partPath = path.join(uploadDir, String(part.number));
      etag.update(Buffer.from(await readFile(`${partPath}.md5`, 'utf8'), 'hex'));
      const input = await open(partPath, 'r');
      try {
        for (;;) {
          const { bytesRead } = await input.read(buf, 0, buf.length, null);
          if (bytesRead === 0) break;
          await out.write(buf, 0, bytesRead);
          size += bytesRead;
        }
      } finally {
        await input.close();
      }
    }
  } finally {
    await out.close();
  }
  const md5 = `${etag.digest('hex')}-${sorted.length}`;
  await store.putMetadata(bucket, key, metadata, md5);
  await rm(uploadDir, { recursive: true, force: true });
  return { size, md5 };
}
server.store.putObjectMultipart = completeMultipart;

// Before the router (the last middleware), after path-style/vhost normalisation.
server.middleware.splice(server.middleware.length - 1, 0, multipart, objectLock);

server.run().then(
  () => undefined,
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
