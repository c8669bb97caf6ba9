import type { Request } from 'express';
import {
  writeAudit,
  type AuditEntry,
  type AuditOutcome,
  type N8nClient,
  type Pool,
  type PoolClient,
  type Logger,
  type SecretKeyring,
} from '@ct/lib';
import { conflict, notFound, type HttpError } from '../errors';
import { UUID_SHAPE } from '../schemas';
import type { ApiMetrics } from '../metrics';
import type { WebhookSecretCache } from '../webhooks';
import type { RegisteredRoute } from '../route';

type Db = Pick<Pool | PoolClient, 'query'>;

/** A started or already-running backup, as the backup module reports it. */
export interface BackupRunInfo {
  id: string;
  status: string;
  startedAt: string | Date;
  [extra: string]: unknown;
}
/**
 * Starts a backup now; when one is already running, returns it with alreadyRunning: true.
 * Provided by the backup module; without it the route answers 501.
 */
export type ForceBackup = (ctx: {
  actor: string;
  actorType: AuditEntry['actorType'];
  requestId: string;
}) => Promise<{ run: BackupRunInfo; alreadyRunning: boolean }>;

export interface ApiSettingsForRoutes {
  jwtSecret: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  secretGraceSeconds: number;
  stuckThresholdSeconds: number;
  prometheusUrl?: string;
  /** Sessions, logins and the proxy secret (see auth.ts; each has a default there). */
  sessionMaxAgeSeconds?: number;
  sessionCheckIntervalSeconds?: number;
  loginFreeFailures?: number;
  loginLockoutSeconds?: number;
  loginLockoutMaxSeconds?: number;
  grafanaProxySecretPrevious?: string;
  /** The shortest olderThan of restart-stuck (API_STUCK_MIN_AGE). */
  stuckMinAgeSeconds?: number;
  /** For tests: the clock of the session-state cache. */
  clock?: () => number;
}

export interface RouteDeps {
  pool: Pool;
  n8n: N8nClient;
  keyring: SecretKeyring;
  logger: Logger;
  metrics: ApiMetrics;
  settings: ApiSettingsForRoutes;
  webhookCache: WebhookSecretCache;
  forceBackup?: ForceBackup;
  registry: RegisteredRoute[];
}

/** Who did an action and from where: what its audit row names (from a request, or a CLI's operator). */
export type AuditWho = Pick<AuditEntry, 'actor' | 'actorType' | 'sourceIp' | 'requestId'>;

/** Who did it, from where, for the audit row of an action. */
export function auditBase(req: Request): AuditWho {
  const p = req.principal;
  return {
    actor: (p?.actor ?? 'anonymous').slice(0, 200),
    actorType: p?.actorType ?? 'system',
    sourceIp: req.ip?.replace(/^::ffff:/, '') || null,
    requestId: req.id,
  };
}

/** The audit row of a request's action, in the caller's transaction; outcome success unless said. */
export function audit(
  tx: Db,
  req: Request,
  e: Omit<AuditEntry, 'actor' | 'actorType' | 'sourceIp' | 'requestId' | 'outcome'> & { outcome?: AuditOutcome },
) {
  return writeAudit(tx, { ...auditBase(req), outcome: 'success', ...e });
}

/** For `.catch()` on an insert: a unique violation becomes `make()`, anything else goes on. */
export function onDuplicate(make: () => HttpError = () => conflict('already exists')) {
  return (err: { code?: string }): never => {
    throw err.code === '23505' ? make() : err;
  };
}

export interface ClientRow {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'paused' | 'churned';
  plan: string | null;
  contact_email: string | null;
  contact_phone: string | null;
  timezone: string;
  created_at: Date;
  last_activity_at: Date | null;
}

export const CLIENT_COLUMNS = 'id, slug, name, status, plan, contact_email, contact_phone, timezone, created_at, last_activity_at';

/**
 * A timestamptz as JSON.stringify writes a Date (and so as clientJson's answers carry it): UTC,
 * milliseconds truncated as the driver's parser truncates them, then Z. NULL stays NULL.
 */
export const jsonTimestamp = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * clientJson's object as PostgreSQL builds it: the same fields in the same order and format, for
 * lists that PostgreSQL serialises (no row objects, Dates or JSON.stringify per request).
 * test/api/clients-list.test.ts holds the two byte for byte equal.
 */
export const CLIENT_JSON_COLUMNS = `id, slug, name, status, plan, contact_email AS "contactEmail", contact_phone AS "contactPhone", timezone,
  ${jsonTimestamp('created_at')} AS "createdAt", ${jsonTimestamp('last_activity_at')} AS "lastActivityAt"`;

export function clientJson(c: ClientRow) {
  return {
    id: c.id,
    slug: c.slug,
    name: c.name,
    status: c.status,
    plan: c.plan,
    contactEmail: c.contact_email,
    contactPhone: c.contact_phone,
    timezone: c.timezone,
    createdAt: c.created_at,
    lastActivityAt: c.last_activity_at,
  };
}

/** A client by slug or id (404 when absent); `lock` takes its row lock for the transaction. */
export async function findClient(db: Db, ref: string, lock = false): Promise<ClientRow> {
  const col = UUID_SHAPE.test(ref) ? 'id' : 'slug';
  const { rows } = await db.query<ClientRow>(`SELECT ${CLIENT_COLUMNS} FROM clients WHERE ${col} = $1${lock ? ' FOR UPDATE' : ''}`, [ref]);
  if (!rows[0]) throw notFound(`client ${ref}`);
  return rows[0];
}
