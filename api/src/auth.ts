import { createHash, randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { apiKeyPrefix, generateApiKey, hashApiKey, safeEqual, writeAudit, type AuditEntry, type Pool, type PoolClient } from '@ct/lib';
import { HttpError } from './errors';
import type { ApiMetrics } from './metrics';
import type { Principal, Scope } from './types';

type Db = Pick<Pool | PoolClient, 'query'>;

const ISSUER = 'ct-api';
const AUDIENCE = 'ct-api';

export interface TokenSettings {
  jwtSecret: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

export async function issueAccessToken(s: TokenSettings, user: { id: string; email: string }): Promise<string> {
  return new SignJWT({ email: user.email, scope: 'admin' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user.id)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + Math.round(s.accessTtlSeconds))
    .sign(new TextEncoder().encode(s.jwtSecret));
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Stores a new refresh token (hash only) and returns the plaintext, shown to the caller once. */
export async function issueRefreshToken(db: Db, s: TokenSettings, userId: string): Promise<string> {
  const token = `ctr_${randomBytes(32).toString('base64url')}`;
  await db.query(`INSERT INTO refresh_tokens (user_id, token_hash, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))`, [
    userId,
    hashToken(token),
    s.refreshTtlSeconds,
  ]);
  return token;
}

export interface AuthSettings extends TokenSettings {
  grafanaProxySecret?: string;
}

const GRAFANA_USER_PATTERN = /^[\w.@+-]{1,100}$/;

/**
 * Authentication: reads whichever credential the request carries and sets req.principal. A
 * request without credentials goes on unauthenticated (the route decides); a bad credential is
 * refused here with 401.
 */
export function authenticate(pool: Pool, s: AuthSettings, metrics: ApiMetrics) {
  const jwtKey = new TextEncoder().encode(s.jwtSecret);
  const fail = (reason: string, message: string): never => {
    metrics.authFailures.inc({ reason });
    throw new HttpError(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer' });
  };
  return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
    const proxySecret = req.get('x-ct-proxy-secret');
    if (proxySecret !== undefined) {
      if (!s.grafanaProxySecret || !safeEqual(proxySecret, s.grafanaProxySecret)) fail('bad_proxy_secret', 'invalid proxy secret');
      const user = req.get('x-grafana-user') ?? '';
      if (!GRAFANA_USER_PATTERN.test(user)) fail('bad_proxy_secret', 'X-Grafana-User is required with the proxy secret');
      req.principal = { actor: `grafana:${user}`, actorType: 'grafana', scopes: new Set<Scope>(['admin']), id: `grafana:${user}` };
      return next();
    }
    const header = req.get('authorization');
    const apiKeyHeader = req.get('x-api-key');
    if (header === undefined && apiKeyHeader === undefined) return next();
    let credential = apiKeyHeader;
    if (credential === undefined) {
      const m = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(header ?? '');
      if (!m) fail('malformed', 'Authorization must be "Bearer <api key or access token>"');
      credential = m![1]!;
    }
    if (credential.startsWith('ct_')) {
      req.principal = await checkApiKey(pool, credential, fail);
      return next();
    }
    try {
      const { payload } = await jwtVerify(credential, jwtKey, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.email !== 'string') fail('bad_token', 'invalid access token');
      req.principal = { actor: payload.email as string, actorType: 'user', scopes: new Set<Scope>(['admin']), id: `user:${payload.sub}` };
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof joseErrors.JWTExpired) fail('expired_token', 'access token expired; refresh it');
      fail('bad_token', 'invalid access token');
    }
    next();
  };
}

async function checkApiKey(pool: Pool, key: string, fail: (reason: string, message: string) => never): Promise<Principal> {
  if (key.length > 200) return fail('bad_api_key', 'invalid API key');
  const { rows } = await pool.query<{
    id: string;
    name: string;
    key_hash: string;
    scopes: Scope[];
    revoked_at: Date | null;
    prefix: string;
  }>('SELECT id, name, prefix, key_hash, scopes, revoked_at FROM api_keys WHERE prefix = $1', [apiKeyPrefix(key)]);
  const row = rows[0];
  // Compare even when nothing matched, so a missing prefix and a wrong tail take the same time.
  const ok = safeEqual(hashApiKey(key), row?.key_hash ?? '0'.repeat(64)) && row !== undefined;
  if (!ok) return fail('bad_api_key', 'invalid API key');
  if (row.revoked_at) return fail('revoked_api_key', 'this API key was revoked');
  // last_used_at at most once a minute per key, so reads do not turn into writes.
  pool
    .query(
      `UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [row.id],
    )
    .catch(() => undefined);
  return { actor: `api_key:${row.name} (${row.prefix})`, actorType: 'api_key', scopes: new Set(row.scopes), id: `key:${row.id}` };
}

/**
 * What a credential is, for the per-key rate limiter (a digest: the credential never leaves this
 * function). The Grafana user counts only behind the right proxy secret: anyone can name a user,
 * and a flood naming one must not lock that user out.
 */
export function credentialFingerprint(req: Request, grafanaProxySecret?: string): string | undefined {
  const proxySecret = req.get('x-ct-proxy-secret');
  const proxyUser = req.get('x-grafana-user');
  if (proxySecret !== undefined && proxyUser !== undefined && grafanaProxySecret && safeEqual(proxySecret, grafanaProxySecret)) {
    return `grafana:${proxyUser.slice(0, 100)}`;
  }
  const c = proxySecret ?? req.get('x-api-key') ?? req.get('authorization');
  if (!c) return undefined;
  return createHash('sha256').update(c).digest('base64url').slice(0, 22);
}

// ---------------------------------------------------------------- operations shared by CLI and routes

export interface CreatedApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  /** The key itself: shown once, never stored. */
  key: string;
}

export async function createApiKey(
  db: Db,
  input: { name: string; scopes: Scope[]; owner: string },
  audit: Omit<AuditEntry, 'action' | 'outcome' | 'targetType' | 'targetId'>,
): Promise<CreatedApiKey> {
  const { key, prefix, hash } = generateApiKey();
  const scopes = [...new Set(input.scopes)];
  const { rows } = await db.query<{ id: string }>(
    'INSERT INTO api_keys (name, prefix, key_hash, scopes, owner) VALUES ($1, $2, $3, $4, $5) RETURNING id',
    [input.name, prefix, hash, scopes, input.owner],
  );
  const id = rows[0]!.id;
  await writeAudit(db, {
    ...audit,
    action: 'api_key.create',
    targetType: 'api_key',
    targetId: id,
    outcome: 'success',
    details: { name: input.name, prefix, scopes },
  });
  return { id, name: input.name, prefix, scopes, key };
}

export async function createAdminUser(
  db: Db,
  input: { email: string; passwordHash: string },
  audit: Omit<AuditEntry, 'action' | 'outcome' | 'targetType' | 'targetId'>,
): Promise<{ id: string; email: string }> {
  const { rows } = await db.query<{ id: string }>('INSERT INTO admin_users (email, password_hash) VALUES ($1, $2) RETURNING id', [
    input.email,
    input.passwordHash,
  ]);
  const id = rows[0]!.id;
  await writeAudit(db, {
    ...audit,
    action: 'admin_user.create',
    targetType: 'admin_user',
    targetId: id,
    outcome: 'success',
    details: { email: input.email },
  });
  return { id, email: input.email };
}
