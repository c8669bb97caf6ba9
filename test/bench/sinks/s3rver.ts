/**
 * s3rver for the bench, plus the two multipart calls it lacks and real S3 has:
 * ListMultipartUploads (GET /bucket?uploads) and AbortMultipartUpload (DELETE /bucket/key?uploadId=).
 * Backups must prove they abort an interrupted multipart upload, so the bench must be able to
 * list and abort them. Everything else is s3rver unchanged.
 *
 *   node --import tsx s3rver.ts <dataDir> <port> <bucket>
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver');

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
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

// Before the router (the last middleware), after path-style/vhost normalisation.
server.middleware.splice(server.middleware.length - 1, 0, multipart);

server.run().then(
  () => undefined,
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
