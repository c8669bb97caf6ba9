import { z } from 'zod';
import type { Request } from 'express';
import { withTransaction, type PoolClient } from '@ct/lib';
import { createApiKey, hashToken, issueAccessToken, issueRefreshToken } from '../auth';
import { HttpError, notFound } from '../errors';
import { DUMMY_HASH, verifyPassword } from '../passwords';
import type { ApiRouter } from '../route';
import { email, idParams, scopes, text } from '../schemas';
import { audit, auditBase, type RouteDeps } from './common';

const loginBody = z.strictObject({ email, password: z.string().min(1).max(1024) });
const refreshBody = z.strictObject({ refreshToken: text(200) });

export function authRoutes(r: ApiRouter, d: RouteDeps): void {
  const { pool, settings } = d;
  /** Issues both tokens for a user and records the sign-in, in the caller's transaction. */
  const signIn = async (tx: PoolClient, req: Request, user: { id: string; email: string }, action: string) => {
    const out = {
      accessToken: await issueAccessToken(settings, user),
      tokenType: 'Bearer',
      expiresIn: Math.round(settings.accessTtlSeconds),
      refreshToken: await issueRefreshToken(tx, settings, user.id),
    };
    req.principal = { actor: user.email, actorType: 'user', scopes: new Set(['admin']), id: `user:${user.id}` };
    await audit(tx, req, { action, targetType: 'admin_user', targetId: user.id });
    return out;
  };

  r.route(
    {
      method: 'post',
      path: '/login',
      summary: 'Log in an admin user: a short-lived access token and a refresh token',
      access: 'public',
      body: loginBody,
    },
    async ({ body, req }) => {
      const { rows } = await pool.query<{ id: string; email: string; password_hash: string; disabled_at: Date | null }>(
        'SELECT id, email, password_hash, disabled_at FROM admin_users WHERE email = $1',
        [body.email],
      );
      const user = rows[0];
      const ok = await verifyPassword(body.password, user?.password_hash ?? DUMMY_HASH);
      if (!user || !ok || user.disabled_at) {
        // Its own reason: FailedLoginsHigh counts failed logins, not every refused credential.
        d.metrics.authFailures.inc({ reason: 'login_failed' });
        throw new HttpError(401, 'unauthorized', 'wrong email or password');
      }
      return withTransaction(pool, async (tx) => {
        await tx.query('UPDATE admin_users SET last_login_at = now() WHERE id = $1', [user.id]);
        return signIn(tx, req, user, 'auth.login');
      });
    },
  );

  r.route(
    {
      method: 'post',
      path: '/refresh',
      summary: 'Exchange a refresh token for new tokens (the old one stops working)',
      access: 'public',
      body: refreshBody,
    },
    async ({ body, req }) =>
      withTransaction(pool, async (tx) => {
        const { rows } = await tx.query<{ id: string; user_id: string; email: string }>(
          `UPDATE refresh_tokens t SET revoked_at = now() FROM admin_users u
            WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now() AND u.id = t.user_id AND u.disabled_at IS NULL
            RETURNING t.id, t.user_id, u.email`,
          [hashToken(body.refreshToken)],
        );
        const row = rows[0];
        if (!row) {
          d.metrics.authFailures.inc({ reason: 'bad_refresh_token' });
          throw new HttpError(401, 'unauthorized', 'refresh token unknown, expired or already used');
        }
        return signIn(tx, req, { id: row.user_id, email: row.email }, 'auth.refresh');
      }),
  );

  r.route(
    {
      method: 'post',
      path: '/logout',
      summary: 'Revoke a refresh token (the access token expires on its own)',
      access: 'authenticated',
      body: refreshBody,
    },
    async ({ body, req }) =>
      withTransaction(pool, async (tx) => {
        const { rows } = await tx.query<{ user_id: string }>(
          'UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_hash = $1 RETURNING user_id',
          [hashToken(body.refreshToken)],
        );
        await audit(tx, req, {
          action: 'auth.logout',
          targetType: 'admin_user',
          targetId: rows[0]?.user_id ?? null,
          outcome: rows[0] ? 'success' : 'failure',
          details: rows[0] ? {} : { reason: 'unknown refresh token' },
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
    async ({ query }) => {
      const { rows } = await pool.query(
        `SELECT id, name, prefix, scopes, owner, created_at AS "createdAt", last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"
           FROM api_keys WHERE $1 OR revoked_at IS NULL ORDER BY created_at DESC, id LIMIT 1000`,
        [query.includeRevoked === 'true'],
      );
      return { data: rows };
    },
  );

  r.route(
    {
      method: 'delete',
      path: '/api-keys/:id',
      summary: 'Revoke an API key (repeating it changes nothing)',
      access: 'admin',
      params: idParams,
    },
    async ({ params, req }) =>
      withTransaction(pool, async (tx) => {
        const { rows } = await tx.query<{ id: string; prefix: string; revoked_at: Date; was: Date | null }>(
          `UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now()) FROM (SELECT id, revoked_at AS was FROM api_keys WHERE id = $1 FOR UPDATE) o
            WHERE k.id = o.id RETURNING k.id, k.prefix, k.revoked_at, o.was`,
          [params.id],
        );
        const row = rows[0];
        if (!row) throw notFound(`API key ${params.id}`);
        await audit(tx, req, {
          action: 'api_key.revoke',
          targetType: 'api_key',
          targetId: row.id,
          details: { prefix: row.prefix, alreadyRevoked: row.was !== null },
        });
        return { id: row.id, prefix: row.prefix, revokedAt: row.revoked_at, alreadyRevoked: row.was !== null };
      }),
  );
}
