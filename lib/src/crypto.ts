import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { UserError } from './errors';

type Queryable = Pick<Pool | PoolClient, 'query'>;

export interface SecretKeyring {
  /** Key id used for new ciphertexts. */
  currentId: string;
  /** Every key that may still be needed, by id, the current one included. */
  keys: Record<string, string>;
}

export function keyringFromConfig(cfg: {
  SECRETS_KEY: string;
  SECRETS_KEY_ID: string;
  SECRETS_PREVIOUS_KEYS: Record<string, string>;
}): SecretKeyring {
  return { currentId: cfg.SECRETS_KEY_ID, keys: { ...cfg.SECRETS_PREVIOUS_KEYS, [cfg.SECRETS_KEY_ID]: cfg.SECRETS_KEY } };
}

/** Encrypts in the database (pgcrypto); the key travels as a bind parameter, never in SQL text. */
export async function encryptSecret(
  db: Queryable,
  keyring: SecretKeyring,
  plaintext: string,
): Promise<{ ciphertext: Buffer; keyId: string }> {
  const key = keyring.keys[keyring.currentId];
  if (!key) throw new UserError(`no key configured for the current key id ${keyring.currentId}`);
  const { rows } = await db.query<{ c: Buffer }>('SELECT ct_encrypt_secret($1, $2) AS c', [plaintext, key]);
  return { ciphertext: rows[0]!.c, keyId: keyring.currentId };
}

export class SecretDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretDecryptionError';
  }
}

export async function decryptSecret(db: Queryable, keyring: SecretKeyring, ciphertext: Buffer, keyId: string): Promise<string> {
  const key = keyring.keys[keyId];
  if (!key) throw new SecretDecryptionError(`secret was encrypted with key ${keyId}, which is not configured`);
  try {
    const { rows } = await db.query<{ p: string }>('SELECT ct_decrypt_secret($1, $2) AS p', [ciphertext, key]);
    return rows[0]!.p;
  } catch (err) {
    if ((err as { code?: string }).code === '28P01') throw new SecretDecryptionError((err as Error).message);
    throw err;
  }
}

/** A URL-safe random secret with `bytes` bytes of entropy. */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export const API_KEY_PREFIX_LENGTH = 12;

/**
 * A new API key: `ct_` + 12 lookup characters + a random tail. Only the prefix and the sha256 of
 * the whole key are stored.
 */
export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const body = randomBytes(32).toString('base64url').replace(/[-_]/g, '');
  const key = `ct_${body}`;
  return { key, prefix: apiKeyPrefix(key), hash: hashApiKey(key) };
}

export function apiKeyPrefix(key: string): string {
  return key.slice(0, 3 + API_KEY_PREFIX_LENGTH);
}

/** Same digest as the database's ct_hash_api_key(), so either side can compute it. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Constant-time comparison of two strings (false for different lengths). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
