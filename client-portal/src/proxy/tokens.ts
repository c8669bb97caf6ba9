import {
  decryptSecret,
  encryptSecret,
  hashApiKey,
  randomSecret,
  safeEqual,
  UserError,
  withTransaction,
  writeAudit,
  type ActorType,
  type Pool,
  type PoolClient,
  type SecretKeyring,
} from '@ct/lib';
import { setClientRolePassword } from '../database/roles';

/**
 * The client's portal credential: one secret of kind `portal_token`, `ctp_` + 43 base64url
 * characters (32 random bytes). It is the Bearer token the client's Grafana organisation sends to
 * the tenant proxy, and the password of the client's own database role.
 *
 * Stored like the webhook secret (encrypted with the keyring, versioned, the previous version kept
 * valid for a grace period after a rotation) plus its SHA-256 (migration 016), which is all the
 * tenant proxy needs to authenticate a request: it looks the hash up and compares it in constant
 * time, and never holds the key that decrypts secrets.
 */

type Db = Pick<Pool | PoolClient, 'query'>;

export const PORTAL_TOKEN_KIND = 'portal_token';
export const PORTAL_TOKEN_PATTERN = /^ctp_[A-Za-z0-9_-]{43}$/;

export interface PortalTokenActor {
  actor: string;
  actorType?: ActorType;
}

export interface IssuedPortalToken {
  /** The token in clear: shown once, stored only encrypted and hashed. */
  token: string;
  version: number;
  clientId: string;
  /** When the previous token stops working (now without a grace); null when there was none. */
  previousExpiresAt: Date | null;
}

/**
 * Issues a new portal token for the client (by slug) and ends the previous one, now or after
 * `graceSeconds`; a token still in the grace of an earlier rotation ends now. In one transaction
 * with the client's row locked: the new secret, the client's database role password (set to the
 * token) and the audit row commit together, or nothing does. Refuses a churned client.
 */
export async function issuePortalToken(
  pool: Pool,
  keyring: SecretKeyring,
  clientSlug: string,
  opts: { graceSeconds?: number; actor?: PortalTokenActor } = {},
): Promise<IssuedPortalToken> {
  const graceSeconds = opts.graceSeconds ?? 0;
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0 || graceSeconds > 30 * 86400) {
    throw new UserError('the grace period must be between 0 and 30 days');
  }
  const actor = opts.actor ?? { actor: 'system', actorType: 'system' as const };
  return withTransaction(pool, async (tx) => {
    const { rows: found } = await tx.query<{ id: string; status: string }>('SELECT id, status FROM clients WHERE slug = $1 FOR UPDATE', [
      clientSlug,
    ]);
    const client = found[0];
    if (!client) throw new UserError(`no client with slug ${JSON.stringify(clientSlug)}`);
    if (client.status === 'churned') throw new UserError(`client ${clientSlug} is churned: it gets no portal access`);
    // A token still in the grace of an earlier rotation ends now; the current one after the grace.
    await tx.query(
      `UPDATE client_secrets SET expires_at = now() WHERE client_id = $1 AND kind = $2 AND revoked_at IS NULL AND expires_at > now()`,
      [client.id, PORTAL_TOKEN_KIND],
    );
    const prev = await tx.query<{ version: number; expires_at: Date }>(
      `UPDATE client_secrets SET expires_at = now() + make_interval(secs => $3)
        WHERE client_id = $1 AND kind = $2 AND expires_at IS NULL AND revoked_at IS NULL
        RETURNING version, expires_at`,
      [client.id, PORTAL_TOKEN_KIND, graceSeconds],
    );
    const { rows } = await tx.query<{ v: number }>(
      'SELECT coalesce(max(version), 0) + 1 AS v FROM client_secrets WHERE client_id = $1 AND kind = $2',
      [client.id, PORTAL_TOKEN_KIND],
    );
    const version = rows[0]!.v;
    const token = `ctp_${randomSecret(32)}`;
    const { ciphertext, keyId } = await encryptSecret(tx, keyring, token);
    await tx.query(
      'INSERT INTO client_secrets (client_id, kind, version, ciphertext, key_id, secret_hash) VALUES ($1, $2, $3, $4, $5, $6)',
      [client.id, PORTAL_TOKEN_KIND, version, ciphertext, keyId, hashApiKey(token)],
    );
    await setClientRolePassword(tx, clientSlug, token);
    const previousExpiresAt = prev.rows[0]?.expires_at ?? null;
    await writeAudit(tx, {
      actor: actor.actor,
      actorType: actor.actorType ?? 'system',
      action: prev.rows[0] ? 'client.portal_token.rotate' : 'client.portal_token.issue',
      targetType: 'client',
      targetId: client.id,
      clientId: client.id,
      outcome: 'success',
      details: {
        version,
        previous_version: prev.rows[0]?.version ?? null,
        previous_expires_at: previousExpiresAt?.toISOString() ?? null,
        grace_seconds: graceSeconds,
      },
    });
    return { token, version, clientId: client.id, previousExpiresAt };
  });
}

/** The client's current portal token in clear (for org sync's datasource), or null when it has none. */
export async function currentPortalToken(db: Db, keyring: SecretKeyring, clientId: string): Promise<string | null> {
  const { rows } = await db.query<{ ciphertext: Buffer; key_id: string }>(
    `SELECT ciphertext, key_id FROM client_secrets
      WHERE client_id = $1 AND kind = $2 AND expires_at IS NULL AND revoked_at IS NULL`,
    [clientId, PORTAL_TOKEN_KIND],
  );
  const row = rows[0];
  return row ? decryptSecret(db, keyring, row.ciphertext, row.key_id) : null;
}

export interface VerifiedPortalToken {
  clientId: string;
  slug: string;
  /** When this token stops working (in a grace period after a rotation); null for the current one. */
  expiresAt: Date | null;
}

/**
 * The client a portal token belongs to, or null for anything else: malformed, unknown, ended
 * (past its grace or revoked), or a churned client's. Found by its SHA-256 and compared in
 * constant time; no key is needed.
 */
export async function verifyPortalToken(db: Db, token: string): Promise<VerifiedPortalToken | null> {
  if (!PORTAL_TOKEN_PATTERN.test(token)) return null;
  const hash = hashApiKey(token);
  const { rows } = await db.query<{ client_id: string; slug: string; secret_hash: string; expires_at: Date | null }>(
    `SELECT s.client_id, c.slug, s.secret_hash, s.expires_at
       FROM client_secrets s JOIN clients c ON c.id = s.client_id
      WHERE s.secret_hash = $1 AND s.kind = $2 AND s.revoked_at IS NULL
        AND (s.expires_at IS NULL OR s.expires_at > now()) AND c.status <> 'churned'`,
    [hash, PORTAL_TOKEN_KIND],
  );
  const row = rows[0];
  if (!row || !safeEqual(row.secret_hash, hash)) return null;
  return { clientId: row.client_id, slug: row.slug, expiresAt: row.expires_at };
}
