import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { errorMessage, type Logger } from '@ct/lib';
import type { BackupConfig } from './config';
import { EncryptStream, type Keyring } from './envelope';
import { abortIncompleteUploads, deleteKeys, describeS3Error, exists, startUpload, type Bucket } from './storage';
import { allOrAbort, HashTap, isConsequence } from './streams';

class UploadFailure extends Error {}

export interface EncryptedUpload {
  ciphertextBytes: number;
  ciphertextSha256: string;
  plaintextBytes: number;
  plaintextSha256: string;
  keyId: string;
  chunkSize: number;
}

/**
 * Encrypts `input` and streams it to `key`. `producers` are the promises of whatever feeds
 * `input` (child processes, other pipelines): the first failure anywhere stops everything via
 * `stopProducers`, and nothing is left in the bucket — neither the object nor an incomplete
 * multipart upload (retried for BACKUP_ABORT_RETRY_SECONDS when S3 itself is what failed).
 */
export async function encryptAndUpload(opts: {
  bucket: Bucket;
  key: string;
  keyring: Keyring;
  config: Pick<BackupConfig, 'BACKUP_PART_SIZE_MB' | 'BACKUP_UPLOAD_CONCURRENCY' | 'BACKUP_ABORT_RETRY_SECONDS'>;
  content: string;
  input: Readable;
  producers?: Promise<unknown>[];
  stopProducers?: () => void;
  onCipherBytes?: (bytes: number) => void;
  log?: Logger;
}): Promise<EncryptedUpload> {
  const { bucket, key } = opts;
  const plainTap = new HashTap();
  const enc = new EncryptStream(opts.keyring, { content: opts.content });
  const cipherTap = new HashTap(opts.onCipherBytes);
  const upload = startUpload(bucket, key, cipherTap, {
    partSizeBytes: opts.config.BACKUP_PART_SIZE_MB * 1024 * 1024,
    concurrency: opts.config.BACKUP_UPLOAD_CONCURRENCY,
  });
  const ac = new AbortController();
  try {
    await allOrAbort(
      [
        ...(opts.producers ?? []),
        pipeline(opts.input, plainTap, enc, cipherTap, { signal: ac.signal }),
        upload.done.catch((err) => {
          throw isConsequence(err) ? err : new UploadFailure(`upload to s3://${bucket.bucket}/${key} failed: ${describeS3Error(err)}`);
        }),
      ],
      () => {
        // Stopping the body makes the upload fail on its own; aborting it here instead would hide
        // S3's own error (the usual cause) behind "Upload aborted".
        opts.stopProducers?.();
        ac.abort();
        cipherTap.destroy();
      },
      // S3 failing breaks every stage before it (they are torn down): it is the cause.
      { rank: (err) => (err instanceof UploadFailure ? -1 : 0) },
    );
  } catch (err) {
    await removePartial(bucket, key, opts.config.BACKUP_ABORT_RETRY_SECONDS, opts.log);
    throw err;
  }
  return {
    ciphertextBytes: cipherTap.bytes,
    ciphertextSha256: cipherTap.digest(),
    plaintextBytes: plainTap.bytes,
    plaintextSha256: plainTap.digest(),
    keyId: enc.header.keyId,
    chunkSize: enc.header.chunkSize,
  };
}

/**
 * After a failed upload: abort its multipart upload and delete the object if it got completed.
 * S3 may be the thing that is down, so this retries until `retrySeconds` have passed; what is
 * still left is swept by the next run of the kind (and by the bucket's lifecycle rule).
 */
export async function removePartial(bucket: Bucket, key: string, retrySeconds: number, log?: Logger): Promise<void> {
  const deadline = Date.now() + retrySeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      await abortIncompleteUploads(bucket, key);
      if (await exists(bucket, key)) await deleteKeys(bucket, [key]);
      return;
    } catch (err) {
      if (Date.now() >= deadline) {
        log?.warn({ key, err: errorMessage(err) }, 'could not clean up the failed upload; the next run will');
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * attempt)));
    }
  }
}
