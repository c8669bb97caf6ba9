import { UserError, withTransaction, writeAudit, type Pool } from '@ct/lib';

/**
 * Routine maintenance windows: `ct maintenance start --for 1h --reason …` silences the agreed
 * tiers in every Alertmanager through its HTTP API v2 and records the window in the audit log
 * (`maintenance.start`, with its end, reason, tiers and silence ids); `ct maintenance end` expires
 * those silences and records `maintenance.end`. The exporter reads the open window from the audit
 * log (ct_maintenance_active), and MaintenanceActive lists it on the dashboard tier while it lasts.
 * Breach signals and the heartbeat are never silenced by a window.
 */

export const MAINTENANCE_TIERS = ['call', 'text', 'email', 'dashboard'] as const;
export type MaintenanceTier = (typeof MAINTENANCE_TIERS)[number];
export const DEFAULT_MAINTENANCE_TIERS: MaintenanceTier[] = ['call', 'text', 'email'];
/** Never silenced by a maintenance window: a breach or a dead pipeline is not maintenance. */
export const NEVER_SILENCED = ['AuditChainInvalid', 'AdminActionFromUnknownAddress', 'TenantIsolationProbe', 'Watchdog'];

export interface MaintenanceWindow {
  auditId: string;
  startedAt: Date;
  until: Date;
  reason: string;
  actor: string;
  tiers: MaintenanceTier[];
  silences: { alertmanager: string; id: string }[];
}

async function amFetch(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new UserError(`cannot reach Alertmanager at ${new URL(url).origin}: ${(err as Error).message}`);
  }
}

/** Alertmanager base URLs from ALERTMANAGER_URLS (comma-separated), each checked. */
export function alertmanagerUrls(value: string | undefined): string[] {
  const urls = (value ?? '')
    .split(',')
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  if (urls.length === 0) throw new UserError('ALERTMANAGER_URLS: is required: the Alertmanagers to silence, comma-separated');
  for (const u of urls) {
    if (!/^https?:\/\/[^/]+$/.test(u))
      throw new UserError(`ALERTMANAGER_URLS: "${u}" is not an http(s) base URL such as http://alertmanager-1:9093`);
  }
  return urls;
}

/** The open window (started, not ended, not past its end), if any. */
export async function activeMaintenance(pool: Pool, now = new Date()): Promise<MaintenanceWindow | undefined> {
  const { rows } = await pool.query<{ id: string; at: Date; actor: string; details: Record<string, unknown> }>(
    `SELECT s.id::text, s.at, s.actor, s.details FROM audit_logs s
      WHERE s.action = 'maintenance.start' AND s.outcome = 'success'
        AND NOT EXISTS (SELECT 1 FROM audit_logs e WHERE e.action = 'maintenance.end' AND e.id > s.id)
      ORDER BY s.id DESC LIMIT 1`,
  );
  const row = rows[0];
  if (!row) return undefined;
  const until = new Date(String(row.details.until));
  if (!(until > now)) return undefined;
  return {
    auditId: row.id,
    startedAt: row.at,
    until,
    reason: String(row.details.reason),
    actor: row.actor,
    tiers: row.details.tiers as MaintenanceTier[],
    silences: row.details.silences as { alertmanager: string; id: string }[],
  };
}

async function expire(silences: { alertmanager: string; id: string }[]): Promise<string[]> {
  const failed: string[] = [];
  for (const s of silences) {
    const res = await amFetch(`${s.alertmanager}/api/v2/silence/${encodeURIComponent(s.id)}`, { method: 'DELETE' }).catch(() => undefined);
    if (!res || (res.status !== 200 && res.status !== 404)) failed.push(`${s.alertmanager} (silence ${s.id})`);
  }
  return failed;
}

export async function startMaintenance(opts: {
  pool: Pool;
  alertmanagers: string[];
  durationSeconds: number;
  reason: string;
  actor: string;
  tiers?: MaintenanceTier[];
  now?: Date;
}): Promise<MaintenanceWindow> {
  const reason = opts.reason.trim();
  if (reason.length < 3 || reason.length > 500) throw new UserError('--reason: say why, in 3 to 500 characters');
  if (!(opts.durationSeconds >= 60 && opts.durationSeconds <= 24 * 3600)) throw new UserError('--for: must be between 1m and 24h');
  const tiers = opts.tiers ?? DEFAULT_MAINTENANCE_TIERS;
  if (tiers.length === 0) throw new UserError('--tiers: name at least one of call, text, email, dashboard');
  if (await activeMaintenance(opts.pool)) throw new UserError('a maintenance window is already open: end it first (ct maintenance end)');
  const now = opts.now ?? new Date();
  const until = new Date(now.getTime() + opts.durationSeconds * 1000);
  const silence = {
    matchers: [
      { name: 'tier', value: tiers.join('|'), isRegex: true, isEqual: true },
      { name: 'alertname', value: NEVER_SILENCED.join('|'), isRegex: true, isEqual: false },
    ],
    startsAt: now.toISOString(),
    endsAt: until.toISOString(),
    createdBy: `ct maintenance (${opts.actor})`,
    comment: `maintenance: ${reason}`,
  };
  const silences: { alertmanager: string; id: string }[] = [];
  try {
    for (const am of opts.alertmanagers) {
      const res = await amFetch(`${am}/api/v2/silences`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(silence),
      });
      const body = (await res.json().catch(() => ({}))) as { silenceID?: string };
      if (res.status !== 200 || !body.silenceID) throw new UserError(`Alertmanager ${am} refused the silence (HTTP ${res.status})`);
      silences.push({ alertmanager: am, id: body.silenceID });
    }
  } catch (err) {
    await expire(silences); // all or nothing: no window half-silenced
    throw err;
  }
  const row = await withTransaction(opts.pool, (tx) =>
    writeAudit(tx, {
      actor: opts.actor,
      actorType: 'user',
      action: 'maintenance.start',
      targetType: 'alerting',
      outcome: 'success',
      details: { until: until.toISOString(), reason, tiers, silences },
    }),
  );
  return { auditId: row.id, startedAt: row.at, until, reason, actor: opts.actor, tiers, silences };
}

export async function endMaintenance(opts: { pool: Pool; actor: string }): Promise<MaintenanceWindow> {
  const open = await activeMaintenance(opts.pool);
  if (!open) throw new UserError('no maintenance window is open');
  const failed = await expire(open.silences);
  await writeAudit(opts.pool, {
    actor: opts.actor,
    actorType: 'user',
    action: 'maintenance.end',
    targetType: 'alerting',
    targetId: open.auditId,
    outcome: failed.length > 0 ? 'partial' : 'success',
    details: { started: open.auditId, failed },
  });
  if (failed.length > 0)
    throw new UserError(
      `window ended, but these silences could not be expired (they end on their own at ${open.until.toISOString()}): ${failed.join(', ')}`,
    );
  return open;
}
