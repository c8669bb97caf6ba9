import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { backupConfig, bucketOf } from '../../test/helpers/backup';
import { deleteKeys, putJson, startUpload, type Bucket } from './storage';

/** Records the signed x-amz-content-sha256 of every request, by command. */
function recordPayloadHashes(b: Bucket): { command: string; payload: string }[] {
  const seen: { command: string; payload: string }[] = [];
  b.s3.middlewareStack.add(
    (next, context) => async (args) => {
      const headers = (args.request as { headers: Record<string, string> }).headers;
      seen.push({ command: context.commandName ?? '', payload: headers['x-amz-content-sha256'] ?? '' });
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'testRecordPayloadHash' },
  );
  return seen;
}

describe('uploading a backup object (s3rver)', () => {
  it('sends the parts unsigned (no second sha256 of the object) and they arrive intact', async () => {
    const b = bucketOf(backupConfig('postgres://unused'));
    const seen = recordPayloadHashes(b);
    const body = randomBytes(11 * 1024 * 1024 + 123);
    const key = `${b.prefix}parts.bin`;
    // Fed in odd pieces so lib-storage cuts the parts itself: 5 MiB, 5 MiB and the rest.
    const pieces: Buffer[] = [];
    for (let i = 0; i < body.length; i += 300_001) pieces.push(body.subarray(i, i + 300_001));
    await startUpload(b, key, Readable.from(pieces), { partSizeBytes: 5 * 1024 * 1024, concurrency: 2 }).done;
    await putJson(b, `${key}.json`, { small: true });

    const parts = seen.filter((s) => s.command === 'UploadPartCommand');
    expect(parts).toHaveLength(3);
    expect(parts.every((p) => p.payload === 'UNSIGNED-PAYLOAD')).toBe(true);
    // Requests without the backup's bytes keep their payload signed.
    expect(seen.find((s) => s.command === 'CompleteMultipartUploadCommand')?.payload).toMatch(/^[0-9a-f]{64}$/);
    const stored = await b.s3.send(new GetObjectCommand({ Bucket: b.bucket, Key: key }));
    expect(Buffer.from(await stored.Body!.transformToByteArray()).equals(body)).toBe(true);
    await deleteKeys(b, [key, `${key}.json`]);
  });
});
