import { createHash, randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { apiKeyPrefix, generateApiKey, hashApiKey, safeEqual, writeAudit, type AuditEntry, type Pool, type PoolClient } from '@ct/lib';
import { HttpError, notFound } from './errors';
import type { ApiMetrics } from './metrics';
import type { Principal, Scope } from './types';

type Db = Pick<Pool | PoolClient, 'query'>;

const ISSUER = 'ct-api';
const AUDIENCE = 'ct-api';

export interface TokenSettings {
  jwtSecret: string;
  accessTtlSeconds: number;
  /** Idle lifetime of a refresh token: each refresh issues a new one, never past the session's end. */
  refreshTtlSeconds: number;
  /** Absolute lifetime of a session (from the password login), whatever the refreshes. */
  sessionMaxAgeSeconds?: number;
  /** How long the API trusts what it last read of a session and its user (at most 60 s). */
  sessionCheckIntervalSeconds?: number;
}

/** Defaults of the optional settings (the config's defaults: see config.ts). */
export const SESSION_DEFAULTS = { sessionMaxAgeSeconds: 30 * 86400, sessionCheckIntervalSeconds: 30 } as const;

export interface Session {
  id: string;
  expiresAt: Date;
}

/** A session of a user, started by a password login; ends at sessionMaxAgeSeconds at the latest. */
export async function startSession(db: Db, s: TokenSettings, userId: string): Promise<Session> {
  const { rows } = await db.query<{ id: string; expires_at: Date }>(
    `INSERT INTO auth_sessions (user_id, expires_at) VALUES ($1, now() + make_interval(secs => $2)) RETURNING id, expires_at`,
    [userId, s.sessionMaxAgeSeconds ?? SESSION_DEFAULTS.sessionMaxAgeSeconds],
  );
  return { id: rows[0]!.id, expiresAt: rows[0]!.expires_at };
}

/** An access token of a session: its `sid` claim lets the API re-check the session on each use. */
export async function issueAccessToken(s: TokenSettings, user: { id: string; email: string }, session: Session): Promise<string> {
  const exp = Math.min(Math.floor(Date.now() / 1000) + Math.round(s.accessTtlSeconds), Math.floor(session.expiresAt.getTime() / 1000));
  return new SignJWT({ email: user.email, scope: 'admin', sid: session.id })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user.id)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(s.jwtSecret));
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Stores a new refresh token of a session (a new session when none is given; hash only) and
 * returns the plaintext, shown to the caller once. It expires after refreshTtlSeconds or at the session's end, whichever is first.
 */
export async function issueRefreshToken(db: Db, s: TokenSettings, userId: string, session?: Session): Promise<string> {
  session ??= await startSession(db, s, userId);
  const token = `ctr_${randomBytes(32).toString('base64url')}`;
  await db.query(
    `INSERT INTO refresh_tokens (user_id, session_id, token_hash, expires_at)
     VALUES ($1, $2, $3, least(now() + make_interval(secs => $4), $5))`,
    [userId, session.id, hashToken(token), s.refreshTtlSeconds, session.expiresAt],
  );
  return token;
}

export type SessionEndReason = 'logout' | 'refresh_token_reuse' | 'sessions_revoked' | 'user_disabled' | 'password_reset';

/** Ends sessions (one, or every live one of a user) and revokes their refresh tokens; how many ended. */
export async function endSessions(db: Db, which: { sessionId: string } | { userId: string }, reason: SessionEndReason): Promise<number> {
  const [col, id] = 'sessionId' in which ? ['id', which.sessionId] : ['user_id', which.userId];
  const { rows } = await db.query<{ id: string }>(
    `UPDATE auth_sessions SET ended_at = now(), ended_reason = $2 WHERE ${col} = $1 AND ended_at IS NULL RETURNING id`,
    [id, reason],
  );
  await db.query(
    `UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND session_id IN (SELECT id FROM auth_sessions WHERE ${col} = $1)`,
    [id],
  );
  sessionCaches.forEach((c) => c.forget());
  return rows.length;
}

/**
 * What the API last read of each session (ended? its user disabled?), kept at most
 * `intervalSeconds`: a session ended or a user disabled elsewhere (another API process, the CLI)
 * stops its access tokens within that bound; in this process, at once.
 */
export class SessionStateCache {
  private readonly entries = new Map<string, { refused: string | null; until: number }>();
  constructor(
    private readonly pool: Pick<Pool, 'query'>,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {
    sessionCaches.add(this);
  }

  /** null when the session is live and its user enabled; else why not. */
  async refusal(sessionId: string, userId: string): Promise<string | null> {
    const key = `${sessionId}/${userId}`;
    const hit = this.entries.get(key);
    if (hit && hit.until > this.now()) return hit.refused;
    const { rows } = await this.pool.query<{ ended_reason: string | null; expired: boolean; disabled: boolean }>(
      `SELECT s.ended_reason, s.expires_at <= now() AS expired, u.disabled_at IS NOT NULL AS disabled
         FROM auth_sessions s JOIN admin_users u ON u.id = s.user_id WHERE s.id = $1 AND s.user_id = $2`,
      [sessionId, userId],
    );
    const r = rows[0];
    const refused = !r
      ? 'session unknown'
      : r.disabled
        ? 'user disabled'
        : r.ended_reason
          ? `session ended (${r.ended_reason})`
          : r.expired
            ? 'session expired'
            : null;
    if (this.intervalMs > 0) {
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.delete(key);
      this.entries.set(key, { refused, until: this.now() + this.intervalMs });
    }
    return refused;
  }

  forget(): void {
    this.entries.clear();
  }
}
/** The caches of this process, so an operator action here takes effect at once. */
const sessionCaches = new Set<SessionStateCache>();

export interface AuthSettings extends TokenSettings {
  grafanaProxySecret?: string;
  /** The proxy secret being rotated out: accepted beside the current one until it is unset. */
  grafanaProxySecretPrevious?: string;
  /** For tests: the clock of the session-state cache. */
  clock?: () => number;
}

/**
 * What a Grafana-proxy call may reach: the calls of the admin app plugin (its src/api/client.ts),
 * nothing else — no API keys, no user management, no client creation. A path is matched as the
 * router would (case-insensitive, one optional trailing slash, `{x}` one segment).
 */
export const GRAFANA_PROXY_ROUTES: ReadonlyArray<readonly ['GET' | 'POST', string]> = [
  ['GET', '/api/auth/me'],
  ['GET', '/api/admin/status'],
  ['GET', '/api/clients'],
  ['GET', '/api/clients/{client}'],
  ['POST', '/api/clients/{client}/pause'],
  ['POST', '/api/clients/{client}/resume'],
  ['POST', '/api/clients/{client}/churn'],
  ['GET', '/api/automations'],
  ['GET', '/api/automations/workflows'],
  ['GET', '/api/metrics/usage'],
  ['GET', '/api/billing/subscriptions'],
  ['GET', '/api/billing/invoices'],
  ['POST', '/api/admin/executions/restart-stuck'],
  ['POST', '/api/admin/clients/{client}/rotate-secret'],
  ['POST', '/api/admin/backups'],
  ['GET', '/api/admin/audit'],
  ['POST', '/api/admin/audit/verify'],
  ['GET', '/api/admin/exports'],
  ['GET', '/api/admin/exports/{name}'],
];
const PROXY_ROUTE_PATTERNS = GRAFANA_PROXY_ROUTES.map(([method, template]) => ({
  methods: method === 'GET' ? ['GET', 'HEAD'] : [method],
  re: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}/?$`, 'i'),
}));
export function grafanaProxyMayCall(method: string, path: string): boolean {
  return PROXY_ROUTE_PATTERNS.some((p) => p.methods.includes(method) && p.re.test(path));
}

/** Whether a presented proxy secret is one of the configured ones (each compared, in constant time). */
function proxySecretMatches(given: string, s: AuthSettings): boolean {
  let ok = false;
  for (const secret of [s.grafanaProxySecret, s.grafanaProxySecretPrevious]) if (secret && safeEqual(given, secret)) ok = true;
  return ok;
}

const GRAFANA_USER_PATTERN = /^[\w.@+-]{1,100}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Authentication: reads whichever credential the request carries and sets req.principal. A
 * request without credentials goes on unauthenticated (the route decides); a bad credential is
 * refused here with 401.
 */
export function authenticate(pool: Pool, s: AuthSettings, metrics: ApiMetrics) {
  const jwtKey = new TextEncoder().encode(s.jwtSecret);
  const keyTouches: KeyTouches = new Map();
  const sessions = new SessionStateCache(
    pool,
    1000 * Math.min(60, s.sessionCheckIntervalSeconds ?? SESSION_DEFAULTS.sessionCheckIntervalSeconds),
    s.clock,
  );
  const fail = (reason: string, message: string): never => {
    metrics.authFailures.inc({ reason });
    throw new HttpError(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer' });
  };
  return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
    const proxySecret = req.get('x-ct-proxy-secret');
    if (proxySecret !== undefined) {
      if (!proxySecretMatches(proxySecret, s)) fail('bad_proxy_secret', 'invalid proxy secret');
      const user = req.get('x-grafana-user') ?? '';
      if (!GRAFANA_USER_PATTERN.test(user)) fail('bad_proxy_secret', 'X-Grafana-User is required with the proxy secret');
      if (!grafanaProxyMayCall(req.method, req.path)) {
        metrics.authFailures.inc({ reason: 'proxy_route_refused' });
        throw new HttpError(
          403,
          'forbidden',
          'the Grafana proxy secret reaches only the admin app routes; use an API key or an access token for this one',
        );
      }
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
      req.principal = await checkApiKey(pool, credential, keyTouches, fail);
      return next();
    }
    let sessionId: string;
    try {
      const { payload } = await jwtVerify(credential, jwtKey, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.email !== 'string' || typeof payload.sid !== 'string')
        fail('bad_token', 'invalid access token');
      if (!UUID.test(payload.sub!) || !UUID.test(payload.sid as string)) fail('bad_token', 'invalid access token');
      req.principal = { actor: payload.email as string, actorType: 'user', scopes: new Set<Scope>(['admin']), id: `user:${payload.sub}` };
      sessionId = payload.sid as string;
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof joseErrors.JWTExpired) fail('expired_token', 'access token expired; refresh it');
      fail('bad_token', 'invalid access token');
    }
    // A valid signature is not enough: the session may have ended, or its user been disabled.
    const refused = await sessions.refusal(sessionId!, req.principal!.id.slice('user:'.length));
    if (refused) {
      req.principal = undefined;
      fail('revoked_token', `access token no longer valid: ${refused}; log in again`);
    }
    next();
  };
}

/** When this process last marked each API key used: the UPDATE is sent at most once a minute per key. */
type KeyTouches = Map<string, number>;
const TOUCH_EVERY_MS = 60_000;

async function checkApiKey(
  pool: Pool,
  key: string,
  touches: KeyTouches,
  fail: (reason: string, message: string) => never,
): Promise<Principal> {
  if (key.length > 200) return fail('bad_api_key', 'invalid API key');
  const { rows } = await pool.query<{
    id: string;
    name: string;
    key_hash: string;
    scopes: Scope[];
    revoked_at: Date | null;
    prefix: string;
  }>({
    // Named, so each connection parses and plans it once: planning costs PostgreSQL more than the lookup.
    name: 'ct-api-key-by-prefix',
    text: 'SELECT id, name, prefix, key_hash, scopes, revoked_at FROM api_keys WHERE prefix = $1',
    values: [apiKeyPrefix(key)],
  });
  const row = rows[0];
  // Compare even when nothing matched, so a missing prefix and a wrong tail take the same time.
  const ok = safeEqual(hashApiKey(key), row?.key_hash ?? '0'.repeat(64)) && row !== undefined;
  if (!ok) return fail('bad_api_key', 'invalid API key');
  if (row.revoked_at) return fail('revoked_api_key', 'this API key was revoked');
  // last_used_at at most once a minute per key, so reads do not turn into writes — nor into a
  // second round trip each: this process asks only once a minute, the WHERE covers the others.
  const now = Date.now();
  if (now - (touches.get(row.id) ?? 0) >= TOUCH_EVERY_MS) {
    if (touches.size >= 10_000) touches.clear();
    touches.set(row.id, now);
    pool
      .query(
        `UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
        [row.id],
      )
      .catch(() => touches.delete(row.id));
  }
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

type AuditBy = Omit<AuditEntry, 'action' | 'outcome' | 'targetType' | 'targetId'>;

// ---------------------------------------------------------------- per-account login throttle

export interface LoginThrottleSettings {
  /** Consecutive failures allowed before each attempt waits. */
  loginFreeFailures?: number;
  /** The first wait; each later attempt doubles it. */
  loginLockoutSeconds?: number;
  /** The longest wait. */
  loginLockoutMaxSeconds?: number;
}
export const LOGIN_THROTTLE_DEFAULTS = { loginFreeFailures: 5, loginLockoutSeconds: 30, loginLockoutMaxSeconds: 900 } as const;

/**
 * Reserves a login attempt for an account name (known or not: both are throttled alike), before
 * the password is checked, so parallel guesses cannot overtake the count. The n-th attempt in a
 * row (counting from the last success, forgotten a day after the last attempt) locks the account
 * for lockout·2^(n−free) seconds, at most lockoutMax, when n ≥ free; while locked, every attempt
 * is refused, a right password included. Returns the seconds left when locked, else null.
 */
export async function reserveLoginAttempt(
  db: Db,
  account: string,
  s: LoginThrottleSettings,
): Promise<{ retryAfterSeconds: number } | null> {
  const free = s.loginFreeFailures ?? LOGIN_THROTTLE_DEFAULTS.loginFreeFailures;
  const base = s.loginLockoutSeconds ?? LOGIN_THROTTLE_DEFAULTS.loginLockoutSeconds;
  const max = s.loginLockoutMaxSeconds ?? LOGIN_THROTTLE_DEFAULTS.loginLockoutMaxSeconds;
  const { rows } = await db.query<{ failures: number }>(
    `INSERT INTO login_throttle AS t (account, failures, last_failure_at, locked_until)
     VALUES ($1, 1, now(), CASE WHEN 1 >= $2 THEN now() + make_interval(secs => least($4::float8, $3::float8)) END)
     ON CONFLICT (account) DO UPDATE SET
       failures = CASE WHEN t.last_failure_at < now() - interval '1 day' THEN 1 ELSE t.failures + 1 END,
       last_failure_at = now(),
       locked_until = CASE WHEN (CASE WHEN t.last_failure_at < now() - interval '1 day' THEN 1 ELSE t.failures + 1 END) >= $2
         THEN now() + make_interval(secs => least($4::float8, $3::float8 * power(2, least(40, (CASE WHEN t.last_failure_at < now() - interval '1 day' THEN 1 ELSE t.failures + 1 END) - $2))))
       END
     WHERE t.locked_until IS NULL OR t.locked_until <= now()
     RETURNING failures`,
    [account, free, base, max],
  );
  if (rows[0]) {
    // Now and then, forget accounts nobody has tried for a day (names of unknown accounts pile up).
    if (Math.random() < 0.01)
      await db.query(
        `DELETE FROM login_throttle WHERE last_failure_at < now() - interval '1 day' AND (locked_until IS NULL OR locked_until < now())`,
      );
    return null;
  }
  const locked = await db.query<{ left: number }>(
    'SELECT greatest(1, ceil(extract(epoch FROM locked_until - now())))::int AS left FROM login_throttle WHERE account = $1',
    [account],
  );
  return { retryAfterSeconds: locked.rows[0]?.left ?? 1 };
}

/** A successful login: the account's count starts again. */
export async function clearLoginFailures(db: Db, account: string): Promise<void> {
  await db.query('DELETE FROM login_throttle WHERE account = $1', [account]);
}

// ---------------------------------------------------------------- operator commands (CLI and routes)

export interface AdminUserInfo {
  id: string;
  email: string;
  createdAt: Date;
  lastLoginAt: Date | null;
  disabledAt: Date | null;
  activeSessions: number;
}

const USER_COLUMNS = `u.id, u.email, u.created_at AS "createdAt", u.last_login_at AS "lastLoginAt", u.disabled_at AS "disabledAt",
  (SELECT count(*)::int FROM auth_sessions s WHERE s.user_id = u.id AND s.ended_at IS NULL AND s.expires_at > now()) AS "activeSessions"`;

export async function listAdminUsers(db: Db): Promise<AdminUserInfo[]> {
  const { rows } = await db.query<AdminUserInfo>(`SELECT ${USER_COLUMNS} FROM admin_users u ORDER BY u.email LIMIT 1000`);
  return rows;
}

/** An admin user by id or email, locked for the transaction; 404 when absent. */
async function findAdminUser(db: Db, ref: string): Promise<AdminUserInfo> {
  const col = UUID.test(ref) ? 'u.id::text' : 'u.email';
  const { rows } = await db.query<AdminUserInfo>(`SELECT ${USER_COLUMNS} FROM admin_users u WHERE ${col} = $1 FOR UPDATE`, [
    UUID.test(ref) ? ref.toLowerCase() : ref.trim().toLowerCase(),
  ]);
  if (!rows[0]) throw notFound(`admin user ${ref.slice(0, 320)}`);
  return rows[0];
}

export type UserAction = 'disable' | 'enable' | 'revoke-sessions';

/**
 * Disables (and ends every session of), enables, or ends every session of an admin user; one
 * audit row, in the caller's transaction. Repeating one changes nothing and says so.
 */
export async function changeAdminUser(db: Db, ref: string, action: UserAction, by: AuditBy) {
  const user = await findAdminUser(db, ref);
  let changed: boolean;
  let sessionsEnded = 0;
  if (action === 'disable') {
    changed = user.disabledAt === null;
    await db.query('UPDATE admin_users SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1', [user.id]);
    sessionsEnded = await endSessions(db, { userId: user.id }, 'user_disabled');
  } else if (action === 'enable') {
    changed = user.disabledAt !== null;
    await db.query('UPDATE admin_users SET disabled_at = NULL WHERE id = $1', [user.id]);
  } else {
    sessionsEnded = await endSessions(db, { userId: user.id }, 'sessions_revoked');
    changed = sessionsEnded > 0;
  }
  await writeAudit(db, {
    ...by,
    action: `admin_user.${action.replace('-', '_')}`,
    targetType: 'admin_user',
    targetId: user.id,
    outcome: 'success',
    details: { email: user.email, changed, sessionsEnded },
  });
  const after = await findAdminUser(db, user.id);
  return { user: after, changed, sessionsEnded };
}

/**
 * Sets a new password hash (made by the caller: hashing takes long, outside the transaction)
 * and ends every session of the user; the password itself is never stored, logged or audited.
 */
export async function resetAdminPassword(db: Db, ref: string, passwordHash: string, by: AuditBy & { generated: boolean }) {
  const { generated, ...auditBy } = by;
  const user = await findAdminUser(db, ref);
  await db.query('UPDATE admin_users SET password_hash = $2 WHERE id = $1', [user.id, passwordHash]);
  await clearLoginFailures(db, user.email);
  const sessionsEnded = await endSessions(db, { userId: user.id }, 'password_reset');
  await writeAudit(db, {
    ...auditBy,
    action: 'admin_user.reset_password',
    targetType: 'admin_user',
    targetId: user.id,
    outcome: 'success',
    details: { email: user.email, generated, sessionsEnded },
  });
  return { user: await findAdminUser(db, user.id), sessionsEnded };
}

/** A password to hand over once (ct user reset-password, the reset route without a password). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  owner: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export async function listApiKeys(db: Db, includeRevoked: boolean): Promise<ApiKeyInfo[]> {
  const { rows } = await db.query<ApiKeyInfo>(
    `SELECT id, name, prefix, scopes, owner, created_at AS "createdAt", last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"
       FROM api_keys WHERE $1 OR revoked_at IS NULL ORDER BY created_at DESC, id LIMIT 1000`,
    [includeRevoked],
  );
  return rows;
}

/** Revokes an API key by id or prefix (repeating it changes nothing); one audit row. */
export async function revokeApiKey(db: Db, ref: string, by: AuditBy) {
  const { rows } = await db.query<{ id: string; prefix: string; revoked_at: Date; was: Date | null }>(
    `UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now())
       FROM (SELECT id, revoked_at AS was FROM api_keys WHERE ${UUID.test(ref) ? 'id = $1::uuid' : 'prefix = $1'} FOR UPDATE) o
      WHERE k.id = o.id RETURNING k.id, k.prefix, k.revoked_at, o.was`,
    [ref],
  );
  const row = rows[0];
  if (!row) throw notFound(`API key ${ref.slice(0, 100)}`);
  await writeAudit(db, {
    ...by,
    action: 'api_key.revoke',
    targetType: 'api_key',
    targetId: row.id,
    outcome: 'success',
    details: { prefix: row.prefix, alreadyRevoked: row.was !== null },
  });
  return { id: row.id, prefix: row.prefix, revokedAt: row.revoked_at, alreadyRevoked: row.was !== null };
}
