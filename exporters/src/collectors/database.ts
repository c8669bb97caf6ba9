import { Gauge, type Registry } from 'prom-client';
import type { Pool } from '@ct/lib';
import { clear, epochSeconds, setGauge, setOrClear, type Collector } from '../collector';

/** pg_stat_activity states, as label values. */
export const CONNECTION_STATES: Record<string, string> = {
  active: 'active',
  idle: 'idle',
  'idle in transaction': 'idle_in_transaction',
  'idle in transaction (aborted)': 'idle_in_transaction_aborted',
  'fastpath function call': 'fastpath_function_call',
  disabled: 'disabled',
};

/**
 * The platform database as the operator sees it (is it up, how full, how busy, is the audit log
 * intact). Server internals are postgres_exporter's job, not this one's.
 */
export class DatabaseCollector implements Collector {
  readonly name = 'database';
  private readonly up: Gauge;
  private readonly size: Gauge;
  private readonly capacity: Gauge;
  private readonly connections: Gauge<'state'>;
  private readonly auditValid: Gauge;
  private readonly auditAnchor: Gauge;
  private readonly auditAt: Gauge;
  private readonly outsideAllowlist: Gauge;
  private readonly maintenance: Gauge;

  constructor(
    registry: Registry,
    private readonly pool: Pool,
    private readonly capacityBytes: number | undefined,
    private readonly adminAllowlist?: string[],
  ) {
    const registers = [registry];
    this.up = new Gauge({ name: 'ct_database_up', help: '1 when the platform database answered this scrape, else 0.', registers });
    this.size = new Gauge({ name: 'ct_database_size_bytes', help: 'Size of the platform database on disk.', registers });
    this.capacity = new Gauge({
      name: 'ct_database_disk_capacity_bytes',
      help: 'Configured capacity of the database disk (EXPORTER_DATABASE_DISK_CAPACITY), for size / capacity.',
      registers,
    });
    this.connections = new Gauge({
      name: 'ct_database_connections',
      help: 'Client connections to the platform database by state.',
      labelNames: ['state'],
      registers,
    });
    this.auditValid = new Gauge({
      name: 'ct_audit_chain_valid',
      help: 'Result of the latest scheduled audit chain verification: 1 intact, 0 altered or removed rows (absent before the first one).',
      registers,
    });
    this.auditAnchor = new Gauge({
      name: 'ct_audit_chain_anchor_contradicted',
      help: 'Latest verification that checked the anchors recorded in S3: 1 when the chain no longer holds one of them (rewritten history), else 0; absent before the first one.',
      registers,
    });
    this.auditAt = new Gauge({
      name: 'ct_audit_chain_last_verification_timestamp_seconds',
      help: 'When the audit chain was last verified; 0 when it never was.',
      registers,
    });
    this.outsideAllowlist = new Gauge({
      name: 'ct_audit_admin_actions_outside_allowlist',
      help: 'Audit rows of admin actors (users, API keys, Grafana) whose source address is outside ALERT_ADMIN_ALLOWLIST; only grows (absent without an allowlist).',
      registers,
    });
    this.maintenance = new Gauge({
      name: 'ct_maintenance_active',
      help: '1 while a maintenance window (ct maintenance start) is open, else 0.',
      registers,
    });
    for (const g of [this.size, this.capacity, this.auditValid, this.auditAnchor, this.auditAt, this.outsideAllowlist, this.maintenance])
      clear(g);
  }

  async read(): Promise<() => void> {
    const [size, conns, audit, outside, maintenance] = await Promise.all([
      this.pool.query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes'),
      this.pool.query<{ state: string; n: string }>(
        `SELECT state, count(*)::text AS n FROM pg_stat_activity
          WHERE datname = current_database() AND backend_type = 'client backend' AND state IS NOT NULL GROUP BY state`,
      ),
      this.pool.query<{ ok: boolean; at: Date; contradicted: boolean | null }>(
        // The anchor check is that of the latest verification given anchors (the scheduled one): a
        // quick action of the API checks the chain against itself only and cannot clear it.
        `SELECT ok, at, (SELECT a.contradicted_anchor IS NOT NULL FROM audit_verifications a WHERE a.anchors_checked IS NOT NULL
                          ORDER BY a.at DESC, a.id DESC LIMIT 1) AS contradicted
           FROM audit_verifications ORDER BY at DESC, id DESC LIMIT 1`,
      ),
      this.adminAllowlist
        ? this.pool.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM audit_logs
              WHERE actor_type IN ('user', 'api_key', 'grafana') AND source_ip IS NOT NULL
                AND NOT (source_ip <<= ANY ($1::inet[]))`,
            [this.adminAllowlist],
          )
        : undefined,
      // The latest maintenance.start not followed by a maintenance.end, and not past its end.
      this.pool.query<{ active: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM audit_logs s
           WHERE s.action = 'maintenance.start' AND s.outcome = 'success' AND (s.details->>'until')::timestamptz > now()
             AND s.id = (SELECT max(id) FROM audit_logs WHERE action = 'maintenance.start' AND outcome = 'success')
             AND NOT EXISTS (SELECT 1 FROM audit_logs e WHERE e.action = 'maintenance.end' AND e.id > s.id)) AS active`,
      ),
    ]);
    return () => {
      this.up.set(1);
      this.size.set(Number(size.rows[0]!.bytes));
      setOrClear(this.capacity, this.capacityBytes);
      const byState = new Map(Object.values(CONNECTION_STATES).map((s) => [s, 0]));
      for (const r of conns.rows) {
        const state = CONNECTION_STATES[r.state];
        if (state) byState.set(state, Number(r.n));
      }
      setGauge(
        this.connections,
        [...byState].map(([state, n]) => [{ state }, n]),
      );
      const last = audit.rows[0];
      setOrClear(this.auditValid, last ? (last.ok ? 1 : 0) : null);
      setOrClear(this.auditAnchor, last && last.contradicted !== null ? (last.contradicted ? 1 : 0) : null);
      this.auditAt.set(epochSeconds(last?.at) ?? 0);
      setOrClear(this.outsideAllowlist, outside ? Number(outside.rows[0]!.n) : null);
      this.maintenance.set(maintenance.rows[0]!.active ? 1 : 0);
    };
  }

  reset(): void {
    for (const g of [
      this.size,
      this.capacity,
      this.connections,
      this.auditValid,
      this.auditAnchor,
      this.auditAt,
      this.outsideAllowlist,
      this.maintenance,
    ])
      clear(g);
    this.up.set(0);
  }
}
