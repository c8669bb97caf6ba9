import type { Pool } from '@ct/lib';
import { isDatabaseUnavailable } from './errors';

/**
 * Group commit for signed webhook events.
 *
 * One write is in flight at a time. A post that arrives when none is in flight is written at once
 * (no added latency when events come one by one); posts that arrive during a write wait in a
 * queue, which is written as soon as that write ends, as ONE multi-row INSERT … ON CONFLICT DO
 * NOTHING: one statement, so one transaction and one commit (one WAL flush) for all of them. Each
 * caller's promise settles only after its batch committed, so a 2xx still means durable.
 *
 * - Idempotency: RETURNING names the keys actually inserted; two posts with the same key in one
 *   batch store one row, the first is `stored`, the other `duplicate`.
 * - clients.last_activity_at is touched once per distinct client of the batch, at most once a second.
 * - A batch refused for its data (one bad row, e.g. JSON PostgreSQL will not store) is written
 *   again one event at a time, so only the bad event fails, with its own error.
 * - A batch failing because the database is unavailable fails every event of that batch with that
 *   error (the statement is atomic: nothing of it was stored).
 */

/** One event as it is stored in activity_events. */
export interface ActivityEventRow {
  clientId: string;
  kind: string;
  /** ISO 8601 with offset, or null for "now". */
  occurredAt: string | null;
  /** The event's data as JSON text. */
  details: string;
  /** Unique across activity_events: `<client id>:<event id>`. */
  idempotencyKey: string;
}

export type WriteResult = { stored: true; id: string } | { stored: false };

export interface EventBatcherOptions {
  /** Most events in one statement (default 500); the rest wait for the next one. */
  maxBatch?: number;
  /** Called with the number of events of each batch written (for a metric). */
  onBatch?: (events: number) => void;
}

interface Pending {
  row: ActivityEventRow;
  resolve: (r: WriteResult) => void;
  reject: (err: unknown) => void;
}

// Rows come as parallel arrays (five parameters whatever the batch size, one plan for all sizes).
// They are sorted by key, and the clients locked in id order, so two API processes writing
// overlapping batches wait for each other rather than deadlock.
/** The prepared statement's name (the benchmark's no-write server recognises it). */
export const INSERT_BATCH_STATEMENT = 'ct-webhook-insert-batch';
/** The batch's statement: $1–$5 are the events' client ids, kinds, occurrence times, details and keys. */
export const INSERT_BATCH = `WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
           AS t(client_id, kind, occurred_at, details, idempotency_key)
), ins AS (
  INSERT INTO activity_events (client_id, kind, occurred_at, details, idempotency_key, source)
  SELECT client_id, kind, coalesce(occurred_at::timestamptz, now()), details::jsonb, idempotency_key, 'webhook'
    FROM input ORDER BY idempotency_key
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id, client_id, idempotency_key
), touched AS (
  -- Coarse to the second: many events a second for one client update its row once.
  SELECT id FROM clients
   WHERE id IN (SELECT client_id FROM ins)
     AND (last_activity_at IS NULL OR last_activity_at < now() - interval '1 second')
   ORDER BY id
     FOR NO KEY UPDATE
), touch AS (
  UPDATE clients c SET last_activity_at = now() FROM touched WHERE c.id = touched.id
)
SELECT id::text AS id, idempotency_key FROM ins`;

export class EventBatcher {
  private readonly queue: Pending[] = [];
  private writing = false;
  private readonly maxBatch: number;

  constructor(
    private readonly pool: Pool,
    private readonly opts: EventBatcherOptions = {},
  ) {
    this.maxBatch = Math.max(1, opts.maxBatch ?? 500);
  }

  /** Stores one event; settles after the statement holding it committed (or failed). */
  write(row: ActivityEventRow): Promise<WriteResult> {
    return new Promise<WriteResult>((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.maxBatch);
        this.opts.onBatch?.(batch.length);
        await this.writeBatch(batch);
      }
    } finally {
      this.writing = false;
    }
  }

  /** Settles every entry of the batch; never throws. */
  private async writeBatch(batch: Pending[]): Promise<void> {
    // The first post of each key is the one inserted; later ones are its duplicates.
    const first = new Map<string, Pending>();
    for (const p of batch) if (!first.has(p.row.idempotencyKey)) first.set(p.row.idempotencyKey, p);
    let inserted: Map<string, string>;
    try {
      inserted = await this.insert([...first.values()].map((p) => p.row));
    } catch (err) {
      if (isDatabaseUnavailable(err) || batch.length === 1) {
        for (const p of batch) p.reject(err);
        return;
      }
      // Refused for its data: one event at a time, in arrival order, so only the bad one fails.
      for (const p of batch) {
        try {
          const one = await this.insert([p.row]);
          const id = one.get(p.row.idempotencyKey);
          p.resolve(id ? { stored: true, id } : { stored: false });
        } catch (e) {
          p.reject(e);
        }
      }
      return;
    }
    for (const p of batch) {
      const id = first.get(p.row.idempotencyKey) === p ? inserted.get(p.row.idempotencyKey) : undefined;
      p.resolve(id ? { stored: true, id } : { stored: false });
    }
  }

  /** One statement (its own transaction); the keys inserted, with their row ids. */
  private async insert(rows: ActivityEventRow[]): Promise<Map<string, string>> {
    const { rows: out } = await this.pool.query<{ id: string; idempotency_key: string }>({
      name: INSERT_BATCH_STATEMENT,
      text: INSERT_BATCH,
      values: [
        rows.map((r) => r.clientId),
        rows.map((r) => r.kind),
        rows.map((r) => r.occurredAt),
        rows.map((r) => r.details),
        rows.map((r) => r.idempotencyKey),
      ],
    });
    return new Map(out.map((r) => [r.idempotency_key, r.id]));
  }
}
