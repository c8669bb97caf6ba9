import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { UserError } from '@ct/lib';

/**
 * Envelope encryption of a backup stream.
 *
 * Each backup gets a random 256-bit data key, wrapped (AES-256-GCM) by a master key from the
 * configuration; the master key's id and the wrapped key travel in the object's header, so the
 * master key can be rotated while older backups stay restorable with the previous key.
 *
 * The payload is cut into chunks, each sealed with AES-256-GCM under the data key, in the STREAM
 * construction (Hoang, Reyhanitabar, Rogaway, Vizár): the 12-byte nonce is a random 7-byte prefix,
 * a 4-byte big-endian chunk counter and a final-chunk flag byte. A moved, swapped or repeated chunk
 * fails its tag (wrong counter), a cut object fails because its last chunk was not sealed as the
 * final one (the final chunk is always shorter than a full one, possibly empty), and the header (key id, wrapped key, chunk size) is bound to every chunk through the
 * additional authenticated data.
 *
 *   object = "CTBK" | 0x01 | u32 header length | header JSON | chunk* (ciphertext | 16-byte tag)
 */

const MAGIC = Buffer.from('CTBK\x01', 'latin1');
const TAG = 16;
const PREFIX = 7;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
const MAX_HEADER = 64 * 1024;

export interface Keyring {
  currentId: string;
  /** Master key material by id (the current one included). */
  keys: Record<string, string>;
}

export interface StreamHeader {
  alg: 'AES-256-GCM-STREAM';
  keyId: string;
  /** base64 of iv (12) | wrapped data key (32) | tag (16). */
  wrappedKey: string;
  noncePrefix: string;
  chunkSize: number;
  /** What the plaintext is, e.g. "pg_dump custom format, zstd" (informative). */
  content: string;
}

export class DecryptionError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'DecryptionError';
  }
}

export function keyringFrom(cfg: {
  BACKUP_MASTER_KEY: string;
  BACKUP_MASTER_KEY_ID: string;
  BACKUP_PREVIOUS_MASTER_KEYS: Record<string, string>;
}): Keyring {
  return {
    currentId: cfg.BACKUP_MASTER_KEY_ID,
    keys: { ...cfg.BACKUP_PREVIOUS_MASTER_KEYS, [cfg.BACKUP_MASTER_KEY_ID]: cfg.BACKUP_MASTER_KEY },
  };
}

/** The 256-bit wrapping key derived from the configured master key text. */
function masterKey(material: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(material, 'utf8'), 'ct-backup', 'master-key-v1', 32));
}

/**
 * The key that authenticates manifests: derived from the same master key text, under a label of
 * its own, so it is never the key that wraps data keys.
 */
function manifestMacKey(material: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(material, 'utf8'), 'ct-backup', 'manifest-mac-v1', 32));
}

/** HMAC-SHA256 (base64) of `data` under the manifest key derived from master key `keyId`. */
export function manifestMac(keyring: Keyring, keyId: string, data: string): string {
  const material = keyring.keys[keyId];
  if (!material) {
    throw new DecryptionError(
      `this backup's manifest was authenticated with master key "${keyId}", which is not configured ` +
        `(configured: ${Object.keys(keyring.keys).join(', ')}); add it to BACKUP_PREVIOUS_MASTER_KEYS`,
    );
  }
  return createHmac('sha256', manifestMacKey(material)).update(data, 'utf8').digest('base64');
}

/** Compares two MACs in constant time. */
export function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'base64');
  const y = Buffer.from(b, 'base64');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

function wrapAad(keyId: string): Buffer {
  return Buffer.from(`ct-backup data key|${keyId}`, 'utf8');
}

function wrapKey(dataKey: Buffer, keyring: Keyring): string {
  const material = keyring.keys[keyring.currentId];
  if (!material) throw new UserError(`master key ${keyring.currentId} is not configured`);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', masterKey(material), iv);
  c.setAAD(wrapAad(keyring.currentId));
  const wrapped = Buffer.concat([c.update(dataKey), c.final()]);
  return Buffer.concat([iv, wrapped, c.getAuthTag()]).toString('base64');
}

function unwrapKey(header: StreamHeader, keyring: Keyring): Buffer {
  const material = keyring.keys[header.keyId];
  if (!material) {
    throw new DecryptionError(
      `this backup was encrypted with master key "${header.keyId}", which is not configured ` +
        `(configured: ${Object.keys(keyring.keys).join(', ')}); add it to BACKUP_PREVIOUS_MASTER_KEYS`,
    );
  }
  const raw = Buffer.from(header.wrappedKey, 'base64');
  if (raw.length !== 12 + 32 + TAG) throw new DecryptionError('the backup header holds a malformed wrapped data key');
  const d = createDecipheriv('aes-256-gcm', masterKey(material), raw.subarray(0, 12));
  d.setAAD(wrapAad(header.keyId));
  d.setAuthTag(raw.subarray(12 + 32));
  try {
    return Buffer.concat([d.update(raw.subarray(12, 12 + 32)), d.final()]);
  } catch {
    throw new DecryptionError(
      `wrong master key: the configured key "${header.keyId}" cannot unwrap this backup's data key ` +
        '(the key under that id was changed, or the header was tampered with)',
    );
  }
}

function nonce(prefix: Buffer, counter: number, final: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(counter, PREFIX);
  n[11] = final ? 1 : 0;
  return n;
}

/** Collects incoming buffers and hands out fixed-size pieces without quadratic copying. */
class Accumulator {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.length += b.length;
  }
  /** Removes and returns the first `n` bytes (n <= length). */
  take(n: number): Buffer {
    const head = this.parts[0];
    if (head && head.length >= n) {
      // The common case: the first piece holds the whole chunk, no copy needed.
      if (head.length === n) this.parts.shift();
      else this.parts[0] = head.subarray(n);
      this.length -= n;
      return head.subarray(0, n);
    }
    const all = Buffer.concat(this.parts, this.length);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.parts = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }
}

/** Encrypts a stream; emits the header first, then sealed chunks. */
export class EncryptStream extends Transform {
  readonly header: StreamHeader;
  private readonly headerBytes: Buffer;
  private readonly aad: Buffer;
  private readonly dataKey = randomBytes(32);
  private readonly prefix = randomBytes(PREFIX);
  /** Input not yet encrypted: less than one chunk, kept as the pieces it arrived in. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private counter = 0;
  private started = false;

  constructor(keyring: Keyring, opts: { content: string; chunkSize?: number }) {
    super();
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.header = {
      alg: 'AES-256-GCM-STREAM',
      keyId: keyring.currentId,
      wrappedKey: wrapKey(this.dataKey, keyring),
      noncePrefix: this.prefix.toString('base64'),
      chunkSize,
      content: opts.content,
    };
    const json = Buffer.from(JSON.stringify(this.header), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(json.length);
    this.headerBytes = Buffer.concat([MAGIC, len, json]);
    this.aad = createHash('sha256').update(this.headerBytes).digest();
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.push(this.headerBytes);
  }

  /**
   * Seals one chunk, given as the pieces it arrived in (GCM encrypts them one after another just
   * as well as joined), and pushes each piece's ciphertext and the tag as they are: joining them
   * would copy every byte of the backup once more, only for the uploader to copy it again into
   * its parts (GCM's final() adds no bytes).
   */
  private seal(pieces: Buffer[], final: boolean): void {
    if (this.counter > 0xffffffff) throw new Error('backup stream too long for one object');
    const c = createCipheriv('aes-256-gcm', this.dataKey, nonce(this.prefix, this.counter++, final));
    c.setAAD(this.aad);
    for (const piece of pieces) {
      const sealed = c.update(piece);
      if (sealed.length > 0) this.push(sealed);
    }
    c.final();
    this.push(c.getAuthTag());
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.start();
    const size = this.header.chunkSize;
    let rest = chunk;
    // Full chunks are never final: the final chunk is the (possibly empty) remainder at the end,
    // so a chunk is sealed as soon as it is complete — its nonce needs to know which it is.
    while (this.pendingBytes + rest.length >= size) {
      const need = size - this.pendingBytes;
      this.pending.push(rest.subarray(0, need));
      this.seal(this.pending, false);
      this.pending = [];
      this.pendingBytes = 0;
      rest = rest.subarray(need);
    }
    if (rest.length > 0) {
      this.pending.push(rest);
      this.pendingBytes += rest.length;
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.start();
    this.seal(this.pending, true);
    this.pending = [];
    cb();
  }
}

/**
 * Decrypts what EncryptStream wrote. Every chunk is authenticated before its plaintext is passed
 * on; a failure errors the stream with a DecryptionError naming what is wrong.
 */
export class DecryptStream extends Transform {
  header: StreamHeader | null = null;
  private aad: Buffer | null = null;
  private dataKey: Buffer | null = null;
  private prefix: Buffer | null = null;
  private readonly buf = new Accumulator();
  private counter = 0;
  chunks = 0;

  constructor(private readonly keyring: Keyring) {
    super();
  }

  private readHeader(): boolean {
    if (this.buf.length < MAGIC.length + 4) return false;
    const head = this.buf.take(this.buf.length);
    this.buf.push(head);
    if (!head.subarray(0, MAGIC.length).equals(MAGIC)) throw new DecryptionError('not a CT backup object (bad magic bytes)');
    const len = head.readUInt32BE(MAGIC.length);
    if (len === 0 || len > MAX_HEADER) throw new DecryptionError('the backup header is malformed');
    if (head.length < MAGIC.length + 4 + len) return false;
    const headerBytes = this.buf.take(MAGIC.length + 4 + len);
    let header: StreamHeader;
    try {
      header = JSON.parse(headerBytes.subarray(MAGIC.length + 4).toString('utf8')) as StreamHeader;
    } catch {
      throw new DecryptionError('the backup header is not valid JSON: the object is damaged');
    }
    if (
      header.alg !== 'AES-256-GCM-STREAM' ||
      !Number.isInteger(header.chunkSize) ||
      header.chunkSize <= 0 ||
      header.chunkSize > 64 << 20
    ) {
      throw new DecryptionError('the backup header names an unknown format');
    }
    this.dataKey = unwrapKey(header, this.keyring);
    this.prefix = Buffer.from(header.noncePrefix, 'base64');
    if (this.prefix.length !== PREFIX) throw new DecryptionError('the backup header is malformed (nonce prefix)');
    this.aad = createHash('sha256').update(headerBytes).digest();
    this.header = header;
    return true;
  }

  private open(sealed: Buffer, final: boolean): Buffer {
    const index = this.counter++;
    const d = createDecipheriv('aes-256-gcm', this.dataKey!, nonce(this.prefix!, index, final));
    d.setAAD(this.aad!);
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    try {
      const out = d.update(sealed.subarray(0, sealed.length - TAG));
      d.final(); // checks the tag (and adds no bytes): nothing is passed on before it has passed
      this.chunks++;
      return out;
    } catch {
      throw new DecryptionError(
        final
          ? `the last chunk (#${index}) failed authentication: the backup is truncated or was modified`
          : `chunk #${index} failed authentication: the backup was modified or its chunks were reordered`,
      );
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.buf.push(chunk);
      if (!this.header && !this.readHeader()) return cb();
      const sealedSize = this.header!.chunkSize + TAG;
      // A full-size sealed chunk is never the final one (that one is shorter).
      while (this.buf.length >= sealedSize) this.push(this.open(this.buf.take(sealedSize), false));
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (!this.header && !this.readHeader()) throw new DecryptionError('the backup object is truncated: its header is incomplete');
      if (this.buf.length < TAG) {
        throw new DecryptionError(`the backup is truncated: it ends after chunk #${this.counter - 1} without its final chunk`);
      }
      this.push(this.open(this.buf.take(this.buf.length), true));
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}
