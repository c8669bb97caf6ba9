import { errorMessage, readMigrations } from '@ct/lib';
import type { ApiRouter } from '../route';
import type { RouteDeps } from './common';

/**
 * `GET /api/admin/status`: one summary of what the admin portal's Overview shows, the same facts
 * `ct status` prints plus n8n, backups and firing alerts. Every part is checked on its own, with a
 * time limit, so an unreachable n8n or Prometheus makes its tile critical/unknown instead of
 * failing the whole answer; a database that is down does the same to the parts that need it.
 */

export type Health = 'ok' | 'warning' | 'critical' | 'unknown';

const PART_TIMEOUT_MS = 5000;
/** A database backup older than this is a warning, older than the second a critical. */
const BACKUP_WARN_SECONDS = 26 * 3600;
const BACKUP_CRITICAL_SECONDS = 48 * 3600;
const STARTED = Date.now();
const RANK: Record<Health, number> = { unknown: 0, ok: 1, warning: 2, critical: 3 };

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${PART_TIMEOUT_MS / 1000}s`)), PART_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);

export function statusRoutes(r: ApiRouter, d: RouteDeps, version: string): void {
  const { pool, n8n, settings } = d;

  async function database() {
    const t0 = process.hrtime.bigint();
    try {
      await within(pool.query('SELECT 1'), 'the database');
      const latencyMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const [files, applied, chain] = await Promise.all([
        readMigrations(),
        pool.query<{ n: string }>('SELECT count(*)::text AS n FROM schema_migrations'),
        pool.query<{ at: Date; ok: boolean; rows_checked: string; first_bad_id: string | null; reason: string | null }>(
          'SELECT at, ok, rows_checked::text, first_bad_id::text, reason FROM audit_verifications ORDER BY at DESC, id DESC LIMIT 1',
        ),
      ]);
      const migrations = { applied: Number(applied.rows[0]?.n ?? 0), total: files.length };
      const v = chain.rows[0];
      const auditChain = v
        ? { ok: v.ok, rowsChecked: Number(v.rows_checked), firstBadId: v.first_bad_id, reason: v.reason, verifiedAt: iso(v.at) }
        : null;
      const status: Health = auditChain && !auditChain.ok ? 'critical' : migrations.applied < migrations.total ? 'warning' : 'ok';
      return { status, reachable: true, latencyMs: Math.round(latencyMs * 10) / 10, migrations, auditChain };
    } catch (err) {
      return { status: 'critical' as Health, reachable: false, error: errorMessage(err).slice(0, 300) };
    }
  }

  async function n8nPart() {
    try {
      const workflows = await within(n8n.listWorkflows(), 'n8n');
      return {
        status: 'ok' as Health,
        reachable: true,
        workflows: workflows.length,
        activeWorkflows: workflows.filter((w) => w.active).length,
      };
    } catch (err) {
      return { status: 'critical' as Health, reachable: false, error: errorMessage(err).slice(0, 300) };
    }
  }

  async function backups() {
    try {
      const { rows } = await within(
        pool.query<{
          which: string;
          id: string;
          kind: string;
          status: string;
          started_at: Date;
          finished_at: Date | null;
          bytes: string | null;
          error: string | null;
        }>(
          `(SELECT 'running' AS which, id, kind, status, started_at, finished_at, bytes::text, error FROM backup_runs WHERE status = 'running' ORDER BY started_at DESC LIMIT 1)
           UNION ALL
           (SELECT 'lastSuccess', id, kind, status, started_at, finished_at, bytes::text, error FROM backup_runs
             WHERE kind = 'database' AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 1)
           UNION ALL
           (SELECT 'lastFailure', id, kind, status, started_at, finished_at, bytes::text, error FROM backup_runs
             WHERE kind = 'database' AND status = 'failed' ORDER BY finished_at DESC LIMIT 1)`,
        ),
        'the database',
      );
      const run = (which: string) => {
        const x = rows.find((row) => row.which === which);
        return x
          ? {
              id: x.id,
              kind: x.kind,
              status: x.status,
              startedAt: iso(x.started_at),
              finishedAt: iso(x.finished_at),
              bytes: x.bytes === null ? null : Number(x.bytes),
              error: x.error,
            }
          : null;
      };
      const lastSuccess = run('lastSuccess');
      const lastFailure = run('lastFailure');
      const ageSeconds = lastSuccess?.finishedAt ? Math.max(0, Math.round((Date.now() - Date.parse(lastSuccess.finishedAt)) / 1000)) : null;
      const failedSince = lastFailure?.finishedAt && (!lastSuccess?.finishedAt || lastFailure.finishedAt > lastSuccess.finishedAt);
      let status: Health = 'ok';
      if (ageSeconds === null || ageSeconds > BACKUP_CRITICAL_SECONDS) status = 'critical';
      else if (ageSeconds > BACKUP_WARN_SECONDS || failedSince) status = 'warning';
      return { status, running: run('running'), lastSuccess, lastSuccessAgeSeconds: ageSeconds, lastFailure };
    } catch (err) {
      return { status: 'unknown' as Health, error: errorMessage(err).slice(0, 300) };
    }
  }

  async function alerts() {
    if (!settings.prometheusUrl) return { status: 'unknown' as Health, firing: null, error: 'PROMETHEUS_URL is not set' };
    try {
      const url = new URL('/api/v1/query', settings.prometheusUrl);
      url.searchParams.set('query', 'count by (severity) (ALERTS{alertstate="firing"})');
      const res = await fetch(url, { signal: AbortSignal.timeout(PART_TIMEOUT_MS) });
      const json = (await res.json().catch(() => ({}))) as {
        status?: string;
        error?: string;
        data?: { result?: { metric: { severity?: string }; value: [number, string] }[] };
      };
      if (res.status !== 200 || json.status !== 'success')
        throw new Error(`Prometheus answered ${res.status}: ${json.error ?? 'no error text'}`);
      const bySeverity: Record<string, number> = {};
      for (const s of json.data?.result ?? []) bySeverity[s.metric.severity ?? 'none'] = Number(s.value[1]);
      const firing = Object.values(bySeverity).reduce((a, b) => a + b, 0);
      const status: Health = (bySeverity.critical ?? 0) > 0 ? 'critical' : firing > 0 ? 'warning' : 'ok';
      return { status, firing, bySeverity };
    } catch (err) {
      return { status: 'unknown' as Health, firing: null, error: `Prometheus is unreachable: ${errorMessage(err)}`.slice(0, 300) };
    }
  }

  r.route(
    {
      method: 'get',
      path: '/status',
      summary: 'What the admin Overview shows: platform, database, n8n, backups and firing alerts, each with ok/warning/critical/unknown',
      access: 'read',
    },
    async () => {
      const [db, n8nState, backupState, alertState] = await Promise.all([database(), n8nPart(), backups(), alerts()]);
      const platform = { status: 'ok' as Health, version, uptimeSeconds: Math.round((Date.now() - STARTED) / 1000) };
      const parts = [platform, db, n8nState, backupState, alertState];
      const overall = parts.reduce<Health>((worst, p) => (RANK[p.status] > RANK[worst] ? p.status : worst), 'ok');
      return { at: new Date().toISOString(), overall, platform, database: db, n8n: n8nState, backups: backupState, alerts: alertState };
    },
  );
}
