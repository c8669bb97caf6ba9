import type { Pool } from '@ct/lib';

/**
 * SQL: a fingerprint of the visible rows of `from` (a table, with a WHERE clause if need be). Every
 * insert or update writes a row version stamped with the id of its transaction (xmin), and a
 * delete removes one: the count, the sum of xmin and the sum of a hash of xmin change with any
 * committed change (for two changes to cancel out, both sums would have to match). Cheap next to
 * reading the rows: about 0.2 µs a row in PostgreSQL, and one row comes back.
 */
export function rowsFingerprint(from: string): string {
  return `(SELECT count(*) || ':' || coalesce(sum(x), 0) || ':' || coalesce(sum(hashint8(x)), 0) FROM (SELECT xmin::text::bigint AS x FROM ${from}) v)`;
}

/**
 * Tables whose changing statements a trigger records in `table_changes` (migration 024): written
 * rarely (billing, execution ingestion), and costly to fingerprint from their own rows (every open
 * invoice, every day of the score's window). Their fingerprint is that of their rows in the record.
 */
export const RECORDED_TABLES = ['subscriptions', 'invoices', 'client_daily_stats', 'client_savings', 'client_webhook_failures'] as const;
/**
 * Tables fingerprinted from their own rows: written all day long (client_activity_counts with every
 * activity event, clients' last activity once a second per active client), where a record of each
 * statement would cost the webhook path a row per batch.
 */
export const ROW_TABLES = ['clients', 'client_activity_counts'] as const;
export type FingerprintedTable = (typeof RECORDED_TABLES)[number] | (typeof ROW_TABLES)[number];

/** A table's recorded changes are pruned once they number this many (the next read of its figures follows). */
export const PRUNE_AT = 200;

export interface Fingerprints {
  /** The database's clock when they were taken. */
  now: Date;
  /** The next local midnight, when the activity score's window moves. */
  midnight: Date;
  /** One fingerprint per table: equal fingerprints mean no committed change in between. */
  tables: Record<FingerprintedTable, string>;
}

const FINGERPRINTS = `SELECT now() AS now, (current_date + 1)::timestamptz AS midnight,
  ${ROW_TABLES.map((t) => `${rowsFingerprint(t)} AS ${t}`).join(',\n  ')},
  (SELECT coalesce(json_object_agg(table_name, json_build_array(n, key)), '{}')
     FROM (SELECT table_name, count(*) AS n, count(*) || ':' || sum(x) || ':' || sum(hashint8(x)) AS key
             FROM (SELECT table_name, xmin::text::bigint AS x FROM table_changes) v GROUP BY 1) t) AS recorded`;

type Row = { now: Date; midnight: Date; recorded: Record<string, [number, string]> } & Record<(typeof ROW_TABLES)[number], string>;

/**
 * The fingerprint of every table the billing and activity figures are computed from, in one query.
 * Collectors asking while a query is on its way share it (a scrape runs them side by side), so the
 * tables both read are fingerprinted once. Sharing keeps the collectors' guarantee: the
 * fingerprint is taken before either reads its tables.
 */
export class TableFingerprints {
  private pending: Promise<Fingerprints> | null = null;
  /** Queries sent since the start (tests). */
  taken = 0;

  constructor(private readonly pool: Pool) {}

  take(): Promise<Fingerprints> {
    if (!this.pending) {
      this.pending = this.query().finally(() => {
        this.pending = null;
      });
    }
    return this.pending;
  }

  private async query(): Promise<Fingerprints> {
    let row = await this.fetch();
    const crowded = RECORDED_TABLES.filter((t) => (row.recorded[t]?.[0] ?? 0) >= PRUNE_AT);
    if (crowded.length > 0) {
      for (const t of crowded) await this.pool.query('SELECT ct_prune_table_changes($1)', [t]);
      row = await this.fetch();
    }
    const tables = {} as Record<FingerprintedTable, string>;
    for (const t of ROW_TABLES) tables[t] = row[t];
    for (const t of RECORDED_TABLES) tables[t] = row.recorded[t]?.[1] ?? 'none';
    return { now: row.now, midnight: row.midnight, tables };
  }

  private async fetch(): Promise<Row> {
    this.taken += 1;
    return (await this.pool.query<Row>(FINGERPRINTS)).rows[0]!;
  }
}

/** The fingerprints of `tables`, as one cache key. */
export function fingerprintKey(f: Fingerprints, tables: readonly FingerprintedTable[]): string {
  return tables.map((t) => f.tables[t]).join('|');
}
