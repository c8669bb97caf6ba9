import { Gauge, type Registry } from 'prom-client';
import type { Pool } from '@ct/lib';
import { clear, epochSeconds, setGauge, type Collector } from '../collector';

export const BACKUP_KINDS = ['database', 'n8n', 'drill'] as const;

interface Row {
  kind: string;
  finished_at: Date | null;
  bytes: string | null;
  seconds: number | null;
  failures: string;
}

/** Backups, n8n exports and restore drills from backup_runs (written by the backup service). */
export class BackupsCollector implements Collector {
  readonly name = 'backups';
  private readonly lastSuccess: Gauge<'kind'>;
  private readonly lastSize: Gauge<'kind'>;
  private readonly lastDuration: Gauge<'kind'>;
  private readonly failures: Gauge<'kind'>;
  private readonly drill: Gauge;
  private readonly missing: Gauge;
  private readonly replaced: Gauge;
  private readonly inventoryAt: Gauge;

  constructor(
    registry: Registry,
    private readonly pool: Pool,
  ) {
    const registers = [registry];
    const labelNames = ['kind'] as const;
    this.lastSuccess = new Gauge({
      name: 'ct_backup_last_success_timestamp_seconds',
      help: 'When the last successful run of this kind (database, n8n, drill) finished; 0 when none ever succeeded.',
      labelNames,
      registers,
    });
    this.lastSize = new Gauge({
      name: 'ct_backup_last_size_bytes',
      help: 'Size of the artefact of the last successful run (compressed, encrypted).',
      labelNames,
      registers,
    });
    this.lastDuration = new Gauge({
      name: 'ct_backup_last_duration_seconds',
      help: 'How long the last successful run took.',
      labelNames,
      registers,
    });
    this.failures = new Gauge({
      name: 'ct_backup_consecutive_failures',
      help: 'Failed runs since the last successful one (0 right after a success).',
      labelNames,
      registers,
    });
    this.drill = new Gauge({
      name: 'ct_backup_restore_drill_last_success_timestamp_seconds',
      help: 'When the last successful restore drill finished; 0 when none ever succeeded.',
      registers,
    });
    this.missing = new Gauge({
      name: 'ct_backup_objects_missing',
      help: 'Recorded backups within retention whose object or manifest is gone from the bucket, at the last inventory (deleted outside retention).',
      registers,
    });
    this.replaced = new Gauge({
      name: 'ct_backup_objects_replaced',
      help: 'Recorded backups within retention whose object or manifest was rewritten after their run ended, at the last inventory.',
      registers,
    });
    this.inventoryAt = new Gauge({
      name: 'ct_backup_inventory_last_check_timestamp_seconds',
      help: 'When the scheduler last compared the bucket with the recorded backups; 0 when never.',
      registers,
    });
    for (const g of [this.drill, this.missing, this.replaced, this.inventoryAt]) clear(g);
  }

  async read(): Promise<() => void> {
    // One indexed lookup per kind (backup_runs_kind_started_idx): cost does not grow with history.
    const { rows } = await this.pool.query<Row>(
      `SELECT k.kind, ok.finished_at, ok.bytes::text AS bytes,
              extract(epoch FROM ok.finished_at - ok.started_at)::float8 AS seconds,
              (SELECT count(*) FROM backup_runs f
                WHERE f.kind = k.kind AND f.status = 'failed' AND f.started_at > coalesce(ok.started_at, '-infinity'))::text AS failures
         FROM unnest($1::text[]) AS k(kind)
         LEFT JOIN LATERAL (
           SELECT started_at, finished_at, bytes FROM backup_runs b
            WHERE b.kind = k.kind AND b.status = 'succeeded' ORDER BY b.started_at DESC LIMIT 1
         ) ok ON true`,
      [BACKUP_KINDS],
    );
    const inventory = (
      await this.pool.query<{ checked_at: Date; missing: number; replaced: number }>(
        'SELECT checked_at, missing, replaced FROM backup_inventory_checks ORDER BY checked_at DESC LIMIT 1',
      )
    ).rows[0];
    return () => {
      setGauge(
        this.lastSuccess,
        rows.map((r) => [{ kind: r.kind }, epochSeconds(r.finished_at) ?? 0]),
      );
      setGauge(
        this.lastSize,
        rows.filter((r) => r.bytes !== null).map((r) => [{ kind: r.kind }, Number(r.bytes)]),
      );
      setGauge(
        this.lastDuration,
        rows.filter((r) => r.seconds !== null).map((r) => [{ kind: r.kind }, r.seconds!]),
      );
      setGauge(
        this.failures,
        rows.map((r) => [{ kind: r.kind }, Number(r.failures)]),
      );
      this.drill.set(epochSeconds(rows.find((r) => r.kind === 'drill')?.finished_at) ?? 0);
      // Before the first inventory nothing is known to be missing: 0, and the timestamp says never.
      this.missing.set(inventory?.missing ?? 0);
      this.replaced.set(inventory?.replaced ?? 0);
      this.inventoryAt.set(epochSeconds(inventory?.checked_at) ?? 0);
    };
  }

  reset(): void {
    for (const g of [
      this.lastSuccess,
      this.lastSize,
      this.lastDuration,
      this.failures,
      this.drill,
      this.missing,
      this.replaced,
      this.inventoryAt,
    ])
      clear(g);
  }
}
