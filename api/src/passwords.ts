import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Password hashing with scrypt (node:crypto): `scrypt$N$r$p$salt$hash`, salt and hash in base64url.
 * The cost follows today's recommendation (N = 2^17, r = 8, p = 1: 128 MiB and about a few hundred
 * milliseconds per hash); each hash carries its own parameters, so a hash of an older cost still
 * verifies and is rewritten at the next successful login (needsRehash).
 */
export const SCRYPT_COST = { N: 2 ** 17, r: 8, p: 1 } as const;
const KEY_LENGTH = 64;
/** The largest N a stored hash may ask for: bounds the memory one verification can take. */
const MAX_N = 2 ** 18;

/** scrypt needs 128·N·r bytes; Node refuses above maxmem (32 MiB by default), so it is set to fit. */
export function scryptMaxmem(n: number, r: number): number {
  return 128 * n * r + 1024 * 1024;
}

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, { N: n, r, p, maxmem: scryptMaxmem(n, r) }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string, cost: { N: number; r: number; p: number } = SCRYPT_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, cost.N, cost.r, cost.p);
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

function parse(stored: string): { n: number; r: number; p: number; salt: Buffer; key: Buffer } | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![n, r, p].every((x) => Number.isInteger(x) && x > 0) || n > MAX_N || r > 32 || p > 16) return null;
  return { n, r, p, salt: Buffer.from(parts[4]!, 'base64url'), key: Buffer.from(parts[5]!, 'base64url') };
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const h = parse(stored);
  if (!h) return false;
  const key = await derive(password, h.salt, h.n, h.r, h.p);
  return key.length === h.key.length && timingSafeEqual(key, h.key);
}

/** True when a (verified) stored hash was made with another cost than today's: rewrite it. */
export function needsRehash(stored: string): boolean {
  const h = parse(stored);
  return !h || h.n !== SCRYPT_COST.N || h.r !== SCRYPT_COST.r || h.p !== SCRYPT_COST.p;
}

/**
 * Spent on unknown users (and on known users whose hash is unreadable), at today's cost, so a
 * login takes as long whether or not the email exists.
 */
export const DUMMY_HASH = `scrypt$${SCRYPT_COST.N}$${SCRYPT_COST.r}$${SCRYPT_COST.p}$AAAAAAAAAAAAAAAAAAAAAA$${'A'.repeat(86)}`;

export const PASSWORD_RULES = 'at least 12 characters';
export function passwordProblem(password: string): string | null {
  if (password.length < 12) return `must be ${PASSWORD_RULES}`;
  if (password.length > 1024) return 'must be at most 1024 characters';
  return null;
}
