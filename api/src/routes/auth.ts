import { z } from 'zod';
import type { Request } from 'express';
import { withTransaction, writeAudit, type PoolClient } from '@ct/lib';
import {
  changeAdminUser,
  clearLoginFailures,
  createApiKey,
  endSessions,
  generatePassword,
  hashToken,
  issueAccessToken,
  issueRefreshToken,
  listAdminUsers,
  listApiKeys,
  reserveLoginAttempt,
  resetAdminPassword,
  revokeApiKey,
  startSession,
  type Session,
  type UserAction,
} from '../auth';
import { HttpError } from '../errors';
import { DUMMY_HASH, hashPassword, needsRehash, passwordProblem, PASSWORD_RULES, verifyPassword } from '../passwords';
import type { ApiRouter } from '../route';
import { email, idParams, scopes, text, uuid } from '../schemas';
import { audit, auditBase, type RouteDeps } from './common';

const loginBody = z.strictObject({ email, password: z.string().min(1).max(1024) });
const refreshBody = z.strictObject({ refreshToken: text(200) });
/** An admin user named by id or email. */
const userParams = z.strictObject({ user: z.union([uuid, email], { error: 'must be an admin user id or email' }) });

interface RefreshRow {
  id: string;
  session_id: string;
  user_id: string;
  email: string;
  used_at: Date | null;
  revoked_at: Date | null;
  expired: boolean;
  session_expires_at: Date;
  session_over: boolean;
  disabled: boolean;
}

export function authRoutes(r: ApiRouter, d: RouteDeps): void {
  const { pool, settings } = d;
  /** Issues both tokens of a session and records the sign-in, in the caller's transaction. */
  const signIn = async (tx: PoolClient, req: Request, user: { id: string; email: string }, session: Session, action: string) => {
    const out = {
      accessToken: await issueAccessToken(settings, user, session),
      tokenType: 'Bearer',
      expiresIn: Math.round(settings.accessTtlSeconds),
      refreshToken: await issueRefreshToken(tx, settings, user.id, session),
      sessionExpiresAt: session.expiresAt,
    };
    req.principal = { actor: user.email, actorType: 'user', scopes: new Set(['admin']), id: `user:${user.id}` };
    await audit(tx, req, { action, targetType: 'admin_user', targetId: user.id, details: { session: session.id } });
    return out;
  };
  /** A refused login, counted (FailedLoginsHigh reads reason login_failed) and audited with its reason. */
  const loginRefused = async (req: Request, actor: string, reason: string) => {
    d.metrics.authFailures.inc({ reason: 'login_failed' });
    await withTransaction(pool, (tx) =>
      writeAudit(tx, {
        ...auditBase(req),
        actor,
        actorType: 'user',
        action: 'auth.login',
        targetType: 'admin_user',
        outcome: 'denied',
        details: { reason },
      }),
    );
  };

  r.route(
    {
      method: 'post',
      path: '/login',
      summary:
        'Log in an admin user: a short-lived access token and a refresh token. After repeated failures the account waits (429 with Retry-After), whatever the address and even with the right password',
      access: 'public',
      body: loginBody,
      responses: { 429: 'too many failed logins for this account; retry after Retry-After seconds' },
    },
    async ({ body, req }) => {
      const locked = await reserveLoginAttempt(pool, body.email, settings);
      const { rows } = await pool.query<{ id: string; email: string; password_hash: string; disabled_at: Date | null }>(
        'SELECT id, email, password_hash, disabled_at FROM admin_users WHERE email = $1',
        [body.email],
      );
      const user = rows[0];
      if (locked) {
        await loginRefused(req, user?.email ?? 'unknown', 'account_locked');
        throw new HttpError(
          429,
          'rate_limited',
          `too many failed logins for this account; retry after ${locked.retryAfterSeconds} seconds`,
          undefined,
          { 'Retry-After': String(locked.retryAfterSeconds) },
        );
      }
      // The same work whether or not the account exists: a hash at today's cost either way.
      const ok = await verifyPassword(body.password, user?.password_hash ?? DUMMY_HASH);
      if (!user || !ok || user.disabled_at) {
        await loginRefused(req, user?.email ?? 'unknown', !user ? 'unknown_account' : !ok ? 'wrong_password' : 'user_disabled');
        throw new HttpError(401, 'unauthorized', 'wrong email or password');
      }
      // A hash of an older cost is rewritten now, while the password is at hand.
      const rehashed = needsRehash(user.password_hash) ? await hashPassword(body.password) : null;
      return withTransaction(pool, async (tx) => {
        await tx.query('UPDATE admin_users SET last_login_at = now(), password_hash = coalesce($2, password_hash) WHERE id = $1', [
          user.id,
          rehashed,
        ]);
        await clearLoginFailures(tx, body.email);
        const session = await startSession(tx, settings, user.id);
        return signIn(tx, req, user, session, 'auth.login');
      });
    },
  );

  r.route(
    {
      method: 'post',
      path: '/refresh',
      summary:
        'Exchange a refresh token for new tokens of the same session. A token presented twice ends its whole session (reuse detection); no refresh goes past the session lifetime',
      access: 'public',
      body: refreshBody,
    },
    async ({ body, req }) => {
      const outcome = await withTransaction(pool, async (tx) => {
        const { rows } = await tx.query<RefreshRow>(
          `SELECT t.id, t.session_id, t.user_id, u.email, t.used_at, t.revoked_at, t.expires_at <= now() AS expired,
                  s.expires_at AS session_expires_at, (s.ended_at IS NOT NULL OR s.expires_at <= now()) AS session_over,
                  u.disabled_at IS NOT NULL AS disabled
             FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id JOIN admin_users u ON u.id = t.user_id
            WHERE t.token_hash = $1 FOR UPDATE OF t, s`,
          [hashToken(body.refreshToken)],
        );
        const row = rows[0];
        if (!row) return { refused: 'refresh token unknown' } as const;
        if (row.used_at) {
          // Reuse: whoever holds the newer token, the family is compromised. End the session.
          const ended = await endSessions(tx, { sessionId: row.session_id }, 'refresh_token_reuse');
          await writeAudit(tx, {
            ...auditBase(req),
            actor: row.email,
            actorType: 'user',
            action: 'auth.refresh_token_reuse',
            targetType: 'admin_user',
            targetId: row.user_id,
            outcome: 'denied',
            details: { session: row.session_id, sessionEnded: ended > 0 },
          });
          return { refused: 'refresh token already used; the session is ended, log in again', reuse: true } as const;
        }
        if (row.revoked_at || row.session_over || row.expired || row.disabled)
          return { refused: 'refresh token expired or revoked' } as const;
        await tx.query('UPDATE refresh_tokens SET used_at = now(), revoked_at = now() WHERE id = $1', [row.id]);
        return {
          tokens: await signIn(
            tx,
            req,
            { id: row.user_id, email: row.email },
            { id: row.session_id, expiresAt: row.session_expires_at },
            'auth.refresh',
          ),
        };
      });
      if ('tokens' in outcome) return outcome.tokens;
      d.metrics.authFailures.inc({ reason: 'reuse' in outcome ? 'refresh_token_reuse' : 'bad_refresh_token' });
      throw new HttpError(401, 'unauthorized', outcome.refused);
    },
  );

  r.route(
    {
      method: 'post',
      path: '/logout',
      summary: 'End the session of a refresh token: its refresh tokens and access tokens stop working',
      access: 'authenticated',
      body: refreshBody,
    },
    async ({ body, req }) =>
      withTransaction(pool, async (tx) => {
        const { rows } = await tx.query<{ user_id: string; session_id: string }>(
          'SELECT user_id, session_id FROM refresh_tokens WHERE token_hash = $1',
          [hashToken(body.refreshToken)],
        );
        if (rows[0]) await endSessions(tx, { sessionId: rows[0].session_id }, 'logout');
        await audit(tx, req, {
          action: 'auth.logout',
          targetType: 'admin_user',
          targetId: rows[0]?.user_id ?? null,
          outcome: rows[0] ? 'success' : 'failure',
          details: rows[0] ? { session: rows[0].session_id } : { reason: 'unknown refresh token' },
        });
        return { loggedOut: true };
      }),
  );

  r.route(
    { method: 'get', path: '/me', summary: 'Who the credentials belong to and their scopes', access: 'authenticated' },
    ({ principal }) => ({
      actor: principal.actor,
      actorType: principal.actorType,
      scopes: [...principal.scopes],
    }),
  );

  r.route(
    {
      method: 'post',
      path: '/api-keys',
      summary: 'Create an API key; the key is in this answer only',
      access: 'admin',
      status: 201,
      body: z.strictObject({ name: text(100), scopes }),
    },
    async ({ body, req }) =>
      withTransaction(pool, (tx) =>
        createApiKey(tx, { name: body.name, scopes: body.scopes, owner: auditBase(req).actor }, auditBase(req)),
      ),
  );

  r.route(
    {
      method: 'get',
      path: '/api-keys',
      summary: 'List API keys (prefixes and scopes, never the keys)',
      access: 'admin',
      query: z.strictObject({ includeRevoked: z.enum(['true', 'false']).default('false') }),
    },
    async ({ query }) => ({ data: await listApiKeys(pool, query.includeRevoked === 'true') }),
  );

  r.route(
    {
      method: 'delete',
      path: '/api-keys/:id',
      summary: 'Revoke an API key (repeating it changes nothing)',
      access: 'admin',
      params: idParams,
    },
    async ({ params, req }) => withTransaction(pool, (tx) => revokeApiKey(tx, params.id, auditBase(req))),
  );

  // ------------------------------------------------------------------ admin users (operator commands)
  r.route({ method: 'get', path: '/users', summary: 'List admin users: state, last login, live sessions', access: 'admin' }, async () => ({
    data: await listAdminUsers(pool),
  }));

  const userAction = (action: UserAction, summary: string) =>
    r.route({ method: 'post', path: `/users/:user/${action}`, summary, access: 'admin', params: userParams }, async ({ params, req }) =>
      withTransaction(pool, (tx) => changeAdminUser(tx, params.user, action, auditBase(req))),
    );
  userAction('disable', 'Disable an admin user: no login, and every session ends (its access tokens within the session check interval)');
  userAction('enable', 'Enable a disabled admin user again (ended sessions stay ended)');
  userAction('revoke-sessions', 'End every session of an admin user: refresh and access tokens stop working');

  r.route(
    {
      method: 'post',
      path: '/users/:user/reset-password',
      summary: "Set an admin user's password and end every session. Without a password, one is generated and is in this answer only",
      access: 'admin',
      params: userParams,
      body: z
        .strictObject({ password: z.string().max(1024).optional().describe(`the new password, ${PASSWORD_RULES}; generated when absent`) })
        .optional(),
    },
    async ({ params, body, req }) => {
      const given = body?.password;
      if (given !== undefined) {
        const problem = passwordProblem(given);
        if (problem)
          throw new HttpError(400, 'validation_failed', `body password: ${problem}`, [{ in: 'body', field: 'password', message: problem }]);
      }
      const password = given ?? generatePassword();
      const hash = await hashPassword(password);
      const out = await withTransaction(pool, (tx) =>
        resetAdminPassword(tx, params.user, hash, { ...auditBase(req), generated: given === undefined }),
      );
      return { ...out, ...(given === undefined ? { password } : {}) };
    },
  );
}
