import { decryptSecret, encryptSecret, randomSecret, type Pool, type PoolClient, type SecretKeyring } from '@ct/lib';

type Db = Pick<Pool | PoolClient, 'query'>;

export const WEBHOOK_SECRET_KIND = 'webhook';

/** Generates a secret, stores it encrypted as `version`, and returns the plaintext (shown once). */
async function storeNewWebhookSecret(db: Db, keyring: SecretKeyring, clientId: string, version: number): Promise<string> {
  const secret = `whsec_${randomSecret(32)}`;
  const { ciphertext, keyId } = await encryptSecret(db, keyring, secret);
  await db.query('INSERT INTO client_secrets (client_id, kind, version, ciphertext, key_id) VALUES ($1, $2, $3, $4, $5)', [
    clientId,
    WEBHOOK_SECRET_KIND,
    version,
    ciphertext,
    keyId,
  ]);
  return secret;
}

/** Creates version 1 of a new client's webhook secret; returns the plaintext (shown once). */
export function createWebhookSecret(db: Db, keyring: SecretKeyring, clientId: string): Promise<string> {
  return storeNewWebhookSecret(db, keyring, clientId, 1);
}

export interface Rotation {
  secret: string;
  version: number;
  /** When the previous version stops verifying (null when there was none). */
  previousValidUntil: Date | null;
  previousVersion: number | null;
}

/**
 * Rotates the webhook secret inside the caller's transaction (which must hold the client's row
 * lock): the current version gets an expiry `graceSeconds` from now, any older one still in its
 * grace ends now, and a new current version is stored.
 */
export async function rotateWebhookSecret(
  db: PoolClient,
  keyring: SecretKeyring,
  clientId: string,
  graceSeconds: number,
): Promise<Rotation> {
  await db.query(
    `UPDATE client_secrets SET expires_at = now() WHERE client_id = $1 AND kind = $2 AND revoked_at IS NULL AND expires_at > now()`,
    [clientId, WEBHOOK_SECRET_KIND],
  );
  const prev = await db.query<{ version: number; expires_at: Date }>(
    `UPDATE client_secrets SET expires_at = now() + make_interval(secs => $3)
      WHERE client_id = $1 AND kind = $2 AND expires_at IS NULL AND revoked_at IS NULL
      RETURNING version, expires_at`,
    [clientId, WEBHOOK_SECRET_KIND, graceSeconds],
  );
  const { rows } = await db.query<{ v: number }>(
    'SELECT coalesce(max(version), 0) + 1 AS v FROM client_secrets WHERE client_id = $1 AND kind = $2',
    [clientId, WEBHOOK_SECRET_KIND],
  );
  const version = rows[0]!.v;
  const secret = await storeNewWebhookSecret(db, keyring, clientId, version);
  return { secret, version, previousValidUntil: prev.rows[0]?.expires_at ?? null, previousVersion: prev.rows[0]?.version ?? null };
}

export interface ValidSecret {
  version: number;
  secret: string;
  /** null for the current version. */
  expiresAt: Date | null;
}

/** The client's webhook secrets that still verify: the current one and any in their grace period. */
export async function loadValidWebhookSecrets(db: Db, keyring: SecretKeyring, clientId: string): Promise<ValidSecret[]> {
  const { rows } = await db.query<{ version: number; ciphertext: Buffer; key_id: string; expires_at: Date | null }>(
    `SELECT version, ciphertext, key_id, expires_at FROM client_secrets
      WHERE client_id = $1 AND kind = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
      ORDER BY version DESC`,
    [clientId, WEBHOOK_SECRET_KIND],
  );
  const out: ValidSecret[] = [];
  for (const r of rows)
    out.push({ version: r.version, secret: await decryptSecret(db, keyring, r.ciphertext, r.key_id), expiresAt: r.expires_at });
  return out;
}
