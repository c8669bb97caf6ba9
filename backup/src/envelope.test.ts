import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { DecryptStream, EncryptStream, type Keyring } from './envelope';

const keyring: Keyring = { currentId: 'k1', keys: { k1: 'unit-test-master-key-0123456789abcdef' } };
const CHUNK = 1024;

async function encrypt(plain: Buffer, ring = keyring, pieceSize = 777): Promise<Buffer> {
  // Feed in odd-sized pieces so chunking does not depend on how the input arrives.
  const pieces: Buffer[] = [];
  for (let i = 0; i < plain.length; i += pieceSize) pieces.push(plain.subarray(i, i + pieceSize));
  return buffer(Readable.from(pieces).pipe(new EncryptStream(ring, { content: 'test', chunkSize: CHUNK })));
}

async function decrypt(sealed: Buffer, ring = keyring): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < sealed.length; i += 500) pieces.push(sealed.subarray(i, i + 500));
  const dec = new DecryptStream(ring);
  return buffer(Readable.from(pieces).pipe(dec));
}

/** Offset of the first chunk: magic (5) + length (4) + header. */
const bodyStart = (sealed: Buffer) => 9 + sealed.readUInt32BE(5);

describe('chunked AES-256-GCM envelope', () => {
  it.each([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 10_000])('round-trips %i bytes', async (size) => {
    const plain = randomBytes(size);
    const sealed = await encrypt(plain);
    expect(sealed.length).toBe(bodyStart(sealed) + size + 16 * (Math.floor(size / CHUNK) + 1));
    expect((await decrypt(sealed)).equals(plain)).toBe(true);
  });

  it.each([1, 100, CHUNK, 2 * CHUNK + 3, 5 * CHUNK])(
    'gives the same chunks whatever pieces the input arrives in (%i bytes)',
    async (pieceSize) => {
      // A chunk may be sealed from several pieces, and one piece may fill several chunks.
      const plain = randomBytes(4 * CHUNK + 10);
      const sealed = await encrypt(plain, keyring, pieceSize);
      expect(sealed.length).toBe(bodyStart(sealed) + plain.length + 16 * 5);
      expect((await decrypt(sealed)).equals(plain)).toBe(true);
    },
  );

  it('uses a fresh data key and nonce prefix for every stream', async () => {
    const plain = Buffer.alloc(100, 7);
    const a = await encrypt(plain);
    const b = await encrypt(plain);
    expect(a.subarray(bodyStart(a)).equals(b.subarray(bodyStart(b)))).toBe(false);
  });

  it('refuses one flipped byte in a chunk', async () => {
    const sealed = await encrypt(randomBytes(5 * CHUNK + 10));
    sealed[bodyStart(sealed) + 2 * (CHUNK + 16) + 5]! ^= 0x01;
    await expect(decrypt(sealed)).rejects.toThrow(/chunk #2 failed authentication/);
  });

  it('refuses a flipped byte in the header (bound to every chunk)', async () => {
    const sealed = await encrypt(randomBytes(2 * CHUNK));
    const at = sealed.indexOf('"content":"test"') + 12;
    sealed[at] = 'T'.charCodeAt(0);
    await expect(decrypt(sealed)).rejects.toThrow(/chunk #0 failed authentication/);
  });

  it('refuses swapped chunks', async () => {
    const sealed = await encrypt(randomBytes(5 * CHUNK + 10));
    const s = bodyStart(sealed);
    const c1 = Buffer.from(sealed.subarray(s + (CHUNK + 16), s + 2 * (CHUNK + 16)));
    const c2 = Buffer.from(sealed.subarray(s + 2 * (CHUNK + 16), s + 3 * (CHUNK + 16)));
    c2.copy(sealed, s + (CHUNK + 16));
    c1.copy(sealed, s + 2 * (CHUNK + 16));
    await expect(decrypt(sealed)).rejects.toThrow(/chunk #1 failed authentication: .*reordered/);
  });

  it('refuses a stream cut at a chunk boundary (no final chunk)', async () => {
    const sealed = await encrypt(randomBytes(5 * CHUNK + 10));
    const cut = sealed.subarray(0, bodyStart(sealed) + 3 * (CHUNK + 16));
    await expect(decrypt(cut)).rejects.toThrow(/the backup is truncated: it ends after chunk #2 without its final chunk/);
    // An exact multiple of the chunk size still ends with its own (empty) final chunk.
    const exact = await encrypt(randomBytes(3 * CHUNK));
    await expect(decrypt(exact.subarray(0, exact.length - 16))).rejects.toThrow(/ends after chunk #2 without its final chunk/);
  });

  it('refuses a final chunk moved into the middle, or a chunk sealed as non-final at the end', async () => {
    const sealed = await encrypt(randomBytes(2 * CHUNK + 10));
    const s = bodyStart(sealed);
    // Drop chunk #1: the final chunk (#2) now sits where #1 should be.
    const spliced = Buffer.concat([sealed.subarray(0, s + CHUNK + 16), sealed.subarray(s + 2 * (CHUNK + 16))]);
    await expect(decrypt(spliced)).rejects.toThrow(/last chunk \(#1\) failed authentication/);
  });

  it('refuses a stream cut inside a chunk or inside the header', async () => {
    const sealed = await encrypt(randomBytes(5 * CHUNK + 10));
    await expect(decrypt(sealed.subarray(0, sealed.length - 100))).rejects.toThrow(/truncated/);
    await expect(decrypt(sealed.subarray(0, bodyStart(sealed) + 3 * (CHUNK + 16) + 8))).rejects.toThrow(/truncated/);
    await expect(decrypt(sealed.subarray(0, 20))).rejects.toThrow(/header is incomplete/);
  });

  it('refuses a dropped middle chunk', async () => {
    const sealed = await encrypt(randomBytes(5 * CHUNK + 10));
    const s = bodyStart(sealed);
    const dropped = Buffer.concat([sealed.subarray(0, s + CHUNK + 16), sealed.subarray(s + 2 * (CHUNK + 16))]);
    await expect(decrypt(dropped)).rejects.toThrow(/chunk #1 failed authentication/);
  });

  it('names a wrong master key and an unknown key id', async () => {
    const sealed = await encrypt(randomBytes(100));
    await expect(decrypt(sealed, { currentId: 'k1', keys: { k1: 'another-master-key-0123456789abcdef' } })).rejects.toThrow(
      /wrong master key: the configured key "k1" cannot unwrap/,
    );
    await expect(decrypt(sealed, { currentId: 'k2', keys: { k2: 'another-master-key-0123456789abcdef' } })).rejects.toThrow(
      /encrypted with master key "k1", which is not configured \(configured: k2\)/,
    );
  });

  it('restores with a previous key after rotation', async () => {
    const plain = randomBytes(3000);
    const sealed = await encrypt(plain);
    const rotated: Keyring = { currentId: 'k2', keys: { k2: 'the-new-master-key-0123456789abcdef', k1: keyring.keys.k1! } };
    expect((await decrypt(sealed, rotated)).equals(plain)).toBe(true);
    const newer = await encrypt(plain, rotated);
    expect(newer.toString('latin1')).toContain('"keyId":"k2"');
  });

  it('refuses something that is not a backup', async () => {
    await expect(decrypt(Buffer.from('PGDMP this is a plain dump, not encrypted'))).rejects.toThrow(/not a CT backup object/);
  });
});
