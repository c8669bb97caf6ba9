import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Pool, SecretKeyring } from '@ct/lib';
import { HttpError, isDatabaseUnavailable } from './errors';
import { EventBatcher, type WriteResult } from './event-batcher';
import type { ApiMetrics } from './metrics';
import { fieldProblems } from './route';
import { isoDateTime, text } from './schemas';
import { loadValidWebhookSecrets, type ValidSecret } from './secrets';

/**
 * The receiver of events posted by client workflows: POST /api/webhooks/n8n/:client.
 * Signature: X-CT-Signature: sha256=<hex HMAC-SHA256 of "<X-CT-Timestamp>.<raw body>"> with the
 * client's webhook secret. See docs/api.md for a ready-to-import n8n workflow.
 */

export const WEBHOOK_MAX_BYTES = 256 * 1024;
export const REPLAY_WINDOW_SECONDS = 300;
export const SIGNATURE_HEADER = 'x-ct-signature';
export const TIMESTAMP_HEADER = 'x-ct-timestamp';
/**
 * Refused posts are limited per sending address and client (API_RATE_LIMIT_PER_IP each); one
 * address may send this many clients' worth of refusals in a minute before all its posts wait.
 */
export const WEBHOOK_REFUSED_CLIENTS_PER_ADDRESS = 10;

export const webhookEventSchema = z.object({
  id: text(150).describe('Event id, the idempotency key: signed with the body, so a replayed request cannot pass for a new event.'),
  type: z
    .string()
    .regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, _ . - starting with a letter, such as lead.captured'),
  occurredAt: isoDateTime
    // A malformed date is reported once, by the format check: these two pass on NaN.
    .refine((v) => !(Date.parse(v) > Date.now() + 3600_000), 'must not be more than an hour in the future')
    .refine((v) => !(Date.parse(v) < Date.parse('2000-01-01T00:00:00Z')), 'must be after 2000')
    .optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

export const webhookHeadersSchema = z.object({
  [SIGNATURE_HEADER]: z.string().describe('sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">'),
  [TIMESTAMP_HEADER]: z.string().describe('Unix time in seconds; must be within 5 minutes of the server clock'),
  'idempotency-key': text(150).optional().describe("Optional; if sent, must equal the body's id"),
});

/** Signs a body as a client workflow must (used by the tests, the benchmark and the docs). */
export function signWebhook(secret: string, body: string | Buffer, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return { 'X-CT-Timestamp': String(timestamp), 'X-CT-Signature': `sha256=${mac}` };
}

interface CachedClient {
  clientId: string;
  slug: string;
  status: string;
  secrets: ValidSecret[];
}

/**
 * Decrypted secrets per client, kept briefly in memory so ingest does not decrypt on every post.
 * A signature that matches none of the cached secrets reloads them once (a rotation elsewhere),
 * and expiry is checked at each use, so the grace period ends on time.
 */
export class WebhookSecretCache {
  /** null entry = no such client (kept briefly too, so floods of unknown slugs do not all query). */
  private readonly entries = new Map<string, { client: CachedClient | null; loadedAt: number }>();
  constructor(
    private readonly pool: Pool,
    private readonly keyring: SecretKeyring,
    private readonly ttlMs = 30_000,
  ) {}

  invalidate(slug: string): void {
    this.entries.delete(slug);
  }

  async get(slug: string, fresh = false): Promise<CachedClient | null> {
    const hit = this.entries.get(slug);
    const age = hit ? Date.now() - hit.loadedAt : Infinity;
    if (hit && (fresh ? age < 1000 : age < this.ttlMs)) return hit.client; // at most one forced reload a second
    const { rows } = await this.pool.query<{ id: string; status: string }>('SELECT id, status FROM clients WHERE slug = $1', [slug]);
    const row = rows[0];
    const client: CachedClient | null = row
      ? { clientId: row.id, slug, status: row.status, secrets: await loadValidWebhookSecrets(this.pool, this.keyring, row.id) }
      : null;
    if (this.entries.size >= 10_000) this.entries.clear(); // bounded: slugs are attacker-chosen
    this.entries.set(slug, { client, loadedAt: Date.now() });
    return client;
  }
}

function matches(secrets: ValidSecret[], signed: Buffer, given: Buffer): ValidSecret | undefined {
  const now = Date.now();
  let found: ValidSecret | undefined;
  for (const s of secrets) {
    if (s.expiresAt && s.expiresAt.getTime() <= now) continue;
    const mac = createHmac('sha256', s.secret).update(signed).digest();
    if (mac.length === given.length && timingSafeEqual(mac, given) && !found) found = s;
  }
  return found;
}

/**
 * What serves POST /api/webhooks/n8n/:client, shared by the express router below and the fast
 * path ahead of express (webhook-fast-path.ts), so both run the very same code and batcher.
 */
export interface WebhookIngest {
  /** express.raw with the webhook's size limit: the signature covers these exact bytes. */
  readBody: RequestHandler;
  /** Answers a post whose body readBody has read; rejects with the error to answer otherwise. */
  handle(req: Request, res: Response): Promise<void>;
  /** Counts a refusal of readBody's (a body too large) before the error handler answers it. */
  countBodyError(err: unknown): void;
}

export function webhookIngest(deps: { pool: Pool; metrics: ApiMetrics; cache: WebhookSecretCache }): WebhookIngest {
  const { pool, metrics, cache } = deps;
  // Concurrent posts are committed together (see event-batcher.ts); each is answered after its commit.
  const batcher = new EventBatcher(pool, { onBatch: (n) => metrics.webhookBatchEvents.observe(n) });
  const count = (client: string, result: string) => metrics.webhookEvents.inc({ client, result });
  const unauthorized = (client: string, result: string, message: string) => {
    count(client, result);
    metrics.authFailures.inc({ reason: `webhook_${result}` });
    return new HttpError(401, 'unauthorized', message);
  };

  const raw = express.raw({ type: () => true, limit: WEBHOOK_MAX_BYTES });
  const readBody: RequestHandler = (req, res, next) => {
    res.locals.route = '/api/webhooks/n8n/:client'; // the route label, also for a refusal (routeTemplate)
    raw(req, res, next);
  };
  const handle = async (req: Request, res: Response): Promise<void> => {
    const slug = String(req.params.client);
    const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!/^[a-z0-9-]{2,40}$/.test(slug)) throw unauthorized('unknown', 'unknown_client', 'unknown client or bad signature');
    const ts = req.get(TIMESTAMP_HEADER) ?? '';
    const sig = /^sha256=([0-9a-f]{64})$/i.exec(req.get(SIGNATURE_HEADER) ?? '');
    if (!/^\d{1,12}$/.test(ts) || !sig)
      throw unauthorized('unknown', 'bad_signature', `missing or malformed ${TIMESTAMP_HEADER} / ${SIGNATURE_HEADER} headers`);
    if (Math.abs(Date.now() / 1000 - Number(ts)) > REPLAY_WINDOW_SECONDS) {
      throw unauthorized('unknown', 'replay', 'timestamp outside the 5-minute window (replayed or clock skew)');
    }
    let client = (await cache.get(slug)) ?? (await cache.get(slug, true)); // a client created since the miss was cached
    if (!client) throw unauthorized('unknown', 'unknown_client', 'unknown client or bad signature');
    const signed = Buffer.concat([Buffer.from(`${ts}.`), raw]);
    const given = Buffer.from(sig[1]!, 'hex');
    let secret = matches(client.secrets, signed, given);
    if (!secret) {
      client = (await cache.get(slug, true)) ?? client;
      secret = matches(client.secrets, signed, given);
    }
    if (!secret) throw unauthorized(client.slug, 'bad_signature', 'unknown client or bad signature');
    if (client.status === 'churned') {
      count(client.slug, 'rejected');
      throw new HttpError(403, 'forbidden', 'this client has churned; its events are no longer accepted');
    }

    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      count(client.slug, 'invalid');
      throw new HttpError(400, 'validation_failed', 'body: malformed JSON', [{ in: 'body', field: 'body', message: 'malformed JSON' }]);
    }
    const parsed = webhookEventSchema.safeParse(json);
    const headerKey = req.get('idempotency-key');
    const problems = parsed.success ? [] : fieldProblems('body', parsed.error, json);
    if (headerKey !== undefined && !/^[\x21-\x7e]{1,150}$/.test(headerKey)) {
      problems.push({ in: 'header', field: 'Idempotency-Key', message: 'must be 1-150 printable ASCII characters' });
    }
    // The key must be signed: an unsigned header choosing it would let a captured request be
    // replayed, within the timestamp window, as a new event under a new key.
    if (parsed.success && headerKey !== undefined && headerKey !== parsed.data.id) {
      problems.push({
        in: 'header',
        field: 'Idempotency-Key',
        message: "must equal the body's id, which is the idempotency key (the header is not signed)",
      });
    }
    if (!parsed.success || problems.length) {
      count(client.slug, 'invalid');
      throw new HttpError(400, 'validation_failed', problems.map((p) => `${p.in} ${p.field}: ${p.message}`).join('; '), problems);
    }
    const event = parsed.data;
    let result: WriteResult;
    try {
      result = await batcher.write({
        clientId: client.clientId,
        kind: event.type,
        occurredAt: event.occurredAt ?? null,
        details: JSON.stringify(event.data ?? {}),
        idempotencyKey: `${client.clientId}:${event.id}`,
      });
    } catch (err) {
      count(client.slug, isDatabaseUnavailable(err) ? 'unavailable' : 'error');
      throw err;
    }
    if (result.stored) {
      count(client.slug, 'stored');
      res.status(201).json({ status: 'stored', id: result.id, secretVersion: secret.version });
    } else {
      count(client.slug, 'duplicate');
      res.status(200).json({ status: 'duplicate' });
    }
  };
  const countBodyError = (err: unknown) => {
    if ((err as { type?: string }).type === 'entity.too.large') count('unknown', 'too_large');
  };
  return { readBody, handle, countBodyError };
}

export function webhookRouter(ingest: WebhookIngest): Router {
  const router = express.Router({ mergeParams: true });
  router.post('/n8n/:client', ingest.readBody, ingest.handle);
  router.use((err: unknown, _req: Request, _res: Response, next: NextFunction) => {
    ingest.countBodyError(err);
    next(err);
  });
  return router;
}
