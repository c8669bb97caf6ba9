import { decryptSecret, encryptSecret, hashApiKey, generateApiKey, SecretDecryptionError, type SecretKeyring } from '@ct/lib';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const keyring: SecretKeyring = {
  currentId: 'k2',
  keys: { k1: 'an-older-master-key-that-is-32-chars!!', k2: 'the-current-master-key-of-32+-characters' },
};

describe('secret encryption in PostgreSQL (pgcrypto)', () => {
  let db: TestDatabase;
  let clientId: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    clientId = (await db.pool.query(`INSERT INTO clients (slug, name) VALUES ('pizza-shop', 'Pizza Shop') RETURNING id`)).rows[0].id;
  });
  afterAll(async () => {
    await db.drop();
  });

  it('round-trips a secret and records the key id', async () => {
    const plaintext = 'whsec_' + 'Z'.repeat(40);
    const { ciphertext, keyId } = await encryptSecret(db.pool, keyring, plaintext);
    expect(keyId).toBe('k2');
    await db.pool.query(
      `INSERT INTO client_secrets (client_id, kind, version, ciphertext, key_id) VALUES ($1, 'webhook_hmac', 1, $2, $3)`,
      [clientId, ciphertext, keyId],
    );
    const stored = (await db.pool.query(`SELECT ciphertext, key_id FROM client_secrets WHERE client_id = $1`, [clientId])).rows[0];
    expect(await decryptSecret(db.pool, keyring, stored.ciphertext, stored.key_id)).toBe(plaintext);
  });

  it('never stores the plaintext bytes', async () => {
    const plaintext = 'super-secret-portal-token-0123456789';
    const { ciphertext } = await encryptSecret(db.pool, keyring, plaintext);
    expect(ciphertext.includes(Buffer.from(plaintext))).toBe(false);
    expect(ciphertext.includes(Buffer.from('super-secret'))).toBe(false);
    // And two encryptions of the same plaintext differ (random salt and session key).
    const again = await encryptSecret(db.pool, keyring, plaintext);
    expect(again.ciphertext.equals(ciphertext)).toBe(false);
  });

  it('decrypts secrets made with an earlier key still in the keyring', async () => {
    const old = await encryptSecret(db.pool, { ...keyring, currentId: 'k1' }, 'old-secret');
    expect(old.keyId).toBe('k1');
    expect(await decryptSecret(db.pool, keyring, old.ciphertext, old.keyId)).toBe('old-secret');
  });

  it('fails cleanly with the wrong key, and with an unknown key id', async () => {
    const { ciphertext } = await encryptSecret(db.pool, keyring, 'value');
    const wrong: SecretKeyring = { currentId: 'k2', keys: { k2: 'a-wrong-key-that-is-also-32-chars-long' } };
    await expect(decryptSecret(db.pool, wrong, ciphertext, 'k2')).rejects.toThrow(
      new SecretDecryptionError('cannot decrypt secret: wrong key or corrupted ciphertext'),
    );
    await expect(decryptSecret(db.pool, keyring, ciphertext, 'k9')).rejects.toThrow(
      'secret was encrypted with key k9, which is not configured',
    );
  });

  it('fails cleanly on a corrupted ciphertext', async () => {
    const { ciphertext } = await encryptSecret(db.pool, keyring, 'value');
    const bad = Buffer.from(ciphertext);
    bad[bad.length - 5]! ^= 0xff;
    await expect(decryptSecret(db.pool, keyring, bad, 'k2')).rejects.toBeInstanceOf(SecretDecryptionError);
  });

  it('refuses a short encryption key', async () => {
    await expect(encryptSecret(db.pool, { currentId: 'x', keys: { x: 'short' } }, 'v')).rejects.toThrow(
      'encryption key must be at least 32 characters',
    );
  });

  it('hashes API keys the same way in the database and in the application', async () => {
    const { key, hash, prefix } = generateApiKey();
    expect(key.startsWith(prefix)).toBe(true);
    expect(hash).toBe(hashApiKey(key));
    const { rows } = await db.pool.query('SELECT ct_hash_api_key($1) AS h', [key]);
    expect(rows[0].h).toBe(hash);
    await db.pool.query(`INSERT INTO api_keys (name, prefix, key_hash, scopes) VALUES ('ops', $1, $2, '{admin}')`, [prefix, hash]);
    const stored = await db.pool.query('SELECT * FROM api_keys');
    expect(JSON.stringify(stored.rows)).not.toContain(key);
  });

  it('refuses a portal token stored without the hash the tenant proxy looks it up by', async () => {
    const { ciphertext } = await encryptSecret(db.pool, keyring, 'v');
    await expect(
      db.pool.query(`INSERT INTO client_secrets (client_id, kind, version, ciphertext, key_id) VALUES ($1, 'portal_token', 1, $2, 'k2')`, [
        clientId,
        ciphertext,
      ]),
    ).rejects.toThrow(/client_secrets_portal_token_hashed/);
  });

  it('allows at most one current version of a secret per client and kind', async () => {
    const { ciphertext } = await encryptSecret(db.pool, keyring, 'v');
    await db.pool.query(`INSERT INTO client_secrets (client_id, kind, version, ciphertext, key_id) VALUES ($1, 'api_token', 1, $2, 'k2')`, [
      clientId,
      ciphertext,
    ]);
    await expect(
      db.pool.query(`INSERT INTO client_secrets (client_id, kind, version, ciphertext, key_id) VALUES ($1, 'api_token', 2, $2, 'k2')`, [
        clientId,
        ciphertext,
      ]),
    ).rejects.toThrow(/client_secrets_one_current/);
    // Rotation: the previous version gets an expiry, then the new one may be current.
    await db.pool.query(`UPDATE client_secrets SET expires_at = now() + interval '24 hours' WHERE client_id = $1 AND kind = 'api_token'`, [
      clientId,
    ]);
    await db.pool.query(`INSERT INTO client_secrets (client_id, kind, version, ciphertext, key_id) VALUES ($1, 'api_token', 2, $2, 'k2')`, [
      clientId,
      ciphertext,
    ]);
  });
});

describe('schema constraints', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('creates a client from just a slug and a name', async () => {
    const { rows } = await db.pool.query(
      `INSERT INTO clients (slug, name) VALUES ('hvac-co', 'HVAC Co') RETURNING status, timezone, created_at`,
    );
    expect(rows[0]).toMatchObject({ status: 'active', timezone: 'UTC' });
  });

  it.each(['A', 'Pizza', 'pizza_shop', 'x', 'pizza shop', 'a'.repeat(41), "pizza'; DROP TABLE clients;--", 'ünicode'])(
    'rejects the slug %j',
    async (slug) => {
      await expect(db.pool.query(`INSERT INTO clients (slug, name) VALUES ($1, 'n')`, [slug])).rejects.toThrow(/clients_slug_format/);
    },
  );

  it('accepts slugs at the bounds', async () => {
    await db.pool.query(`INSERT INTO clients (slug, name) VALUES ('ab', 'n'), ($1, 'n')`, ['a'.repeat(40)]);
  });

  it('rejects an unknown status', async () => {
    await expect(db.pool.query(`INSERT INTO clients (slug, name, status) VALUES ('plumber', 'P', 'deleted')`)).rejects.toThrow(
      /clients_status_valid/,
    );
  });

  it.each([
    ['plans', `INSERT INTO plans (code, name, monthly_amount_cents) VALUES ('basic', 'Basic', -1)`, /plans_amount_nonnegative/],
    [
      'subscriptions',
      `INSERT INTO subscriptions (client_id, monthly_amount_cents) SELECT id, -500 FROM clients LIMIT 1`,
      /subscriptions_amount_nonnegative/,
    ],
    [
      'invoices',
      `INSERT INTO invoices (client_id, number, amount_cents) SELECT id, 'INV-1', -1 FROM clients LIMIT 1`,
      /invoices_amount_nonnegative/,
    ],
    [
      'automations',
      `INSERT INTO automations (client_id, n8n_workflow_id, name, hourly_value_cents) SELECT id, 'wf1', 'n', -100 FROM clients LIMIT 1`,
      /automations_hourly_value_nonnegative/,
    ],
  ])('rejects negative money in %s', async (_t, sql, constraint) => {
    await expect(db.pool.query(sql)).rejects.toThrow(constraint);
  });

  it('stores billed money as integer cents, and no money anywhere as float', async () => {
    const { rows } = await db.pool.query(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
       WHERE table_schema = 'public' AND (column_name LIKE '%cents' OR column_name LIKE '%amount%')`,
    );
    const billing = rows.filter((r) => ['plans', 'subscriptions', 'invoices', 'automations'].includes(r.table_name));
    expect(billing.map((r) => `${r.table_name}.${r.column_name}`).sort()).toEqual([
      'automations.hourly_value_cents',
      'invoices.amount_cents',
      'plans.monthly_amount_cents',
      'subscriptions.monthly_amount_cents',
    ]);
    for (const r of billing) expect(['bigint', 'integer']).toContain(r.data_type);
    // Derived estimates (ROI accrues fractions of a cent per run) may be exact decimals, never floats.
    for (const r of rows)
      expect([`${r.table_name}.${r.column_name}`, ['bigint', 'integer', 'numeric'].includes(r.data_type)]).toEqual([
        `${r.table_name}.${r.column_name}`,
        true,
      ]);
  });

  it('keeps invoice status and dates consistent', async () => {
    const c = (await db.pool.query(`SELECT id FROM clients LIMIT 1`)).rows[0].id;
    await expect(
      db.pool.query(`INSERT INTO invoices (client_id, number, amount_cents, status) VALUES ($1, 'INV-P', 100, 'paid')`, [c]),
    ).rejects.toThrow(/invoices_paid_has_date|invoices_open_is_issued/);
    await expect(
      db.pool.query(
        `INSERT INTO invoices (client_id, number, amount_cents, status, issued_at, due_at) VALUES ($1, 'INV-D', 100, 'open', now(), now() - interval '1 day')`,
        [c],
      ),
    ).rejects.toThrow(/invoices_due_after_issue/);
    await expect(
      db.pool.query(`INSERT INTO invoices (client_id, number, amount_cents, status, issued_at) VALUES ($1, 'INV-S', 100, 'sent', now())`, [
        c,
      ]),
    ).rejects.toThrow(/invoices_status_valid/);
  });

  it('refuses a second running backup of the same kind', async () => {
    await db.pool.query(`INSERT INTO backup_runs (kind) VALUES ('database')`);
    await expect(db.pool.query(`INSERT INTO backup_runs (kind) VALUES ('database')`)).rejects.toThrow(/backup_runs_one_running/);
    await db.pool.query(`INSERT INTO backup_runs (kind) VALUES ('n8n')`);
  });
});
