import { z } from 'zod';
import { durationSeconds } from '@ct/lib';
import { HttpError } from './errors';

/** Shared request schemas: every string has a length bound and refuses NUL bytes. */

export const text = (max: number, min = 1) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((v) => !v.includes('\u0000'), 'must not contain NUL characters');

/** What a client reference is read as an id for (findClient), rather than as a slug. */
export const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const slug = z
  .string()
  .regex(/^[a-z0-9-]{2,40}$/, 'must be 2-40 characters of a-z, 0-9 and -')
  // Clients are named by slug or id in paths: a slug shaped like an id could never be reached.
  .refine((v) => !UUID_SHAPE.test(v), 'must not have the shape of a UUID');
export const uuid = z.uuid('must be a UUID');
/** A client named by slug or id. */
export const clientRef = z.union([uuid, slug], { error: 'must be a client slug or UUID' });
export const email = z.email('must be an email address').max(320).toLowerCase();
export const currency = z.string().regex(/^[A-Z]{3}$/, 'must be a 3-letter ISO 4217 code such as USD');
export const cents = z.number().int().min(0).max(1e12);
export const timezone = text(64).refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Europe/Paris');
export const isoDateTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z' });
export const isoDate = z.iso.date('must be a date such as 2026-01-31');
export const scope = z.enum(['read', 'write', 'admin']);
export const scopes = z.array(scope).min(1).max(3);
/** A duration in the query string or body: 30s, 15m, 24h, 7d or seconds. */
export const duration = (maxSeconds: number) =>
  z
    .union([z.string().max(20), z.number()])
    .pipe(durationSeconds)
    .pipe(z.number().min(0).max(maxSeconds, `must be at most ${maxSeconds} seconds`));

export const limit = z.coerce.number().int().min(1).max(500).default(50);
export const cursor = text(200).optional();
export const page = { limit, cursor };

/** Keyset cursor: base64url of JSON [sortValue, id]; opaque to callers. */
export function encodeCursor(values: (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor(raw: string | undefined, shape: ('string' | 'number')[]): (string | number)[] | null {
  if (raw === undefined) return null;
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === shape.length && v.every((x, i) => typeof x === shape[i] && String(x).length <= 100)) {
      return v as (string | number)[];
    }
  } catch {
    /* falls through */
  }
  throw new HttpError(400, 'validation_failed', 'query cursor: is not a cursor this API returned', [
    { in: 'query', field: 'cursor', message: 'is not a cursor this API returned' },
  ]);
}

export const clientParams = z.object({ client: clientRef });
export const idParams = z.object({ id: uuid });
