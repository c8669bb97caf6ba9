import type { Pool } from '@ct/lib';

/**
 * Every table the billing and activity figures are read from. A trigger records each statement
 * that changes one in `table_changes` (migrations 024 and 026), and a table's fingerprint is that of its
 * rows there: their count, the sum of their transaction ids (xmin) and the sum of a hash of them,
 * which any committed row changes (for two changes to cancel out, both sums would have to match).
 * Reading it costs a few rows per table, where reading the tables' own row versions cost ~10 ms.
 */
export const FINGERPRINTED_TABLES = [
  'clients',
  /**
   * Not a table: the changes of clients but for the touch of their last activity (migration 026),
   * which webhook batches make all day long. For figures that do not read the last activity.
   */
  'clients_except_last_activity',
  'client_activity_counts',
  'subscriptions',
  'invoices',
  'client_daily_stats',
  'client_savings',
  'client_webhook_failures',
] as const;
export type FingerprintedTable = (typeof FINGERPRINTED_TABLES)[number];

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
  (SELECT coalesce(json_object_agg(table_name, json_build_array(n, key)), '{}')
     FROM (SELECT table_name, count(*) AS n, count(*) || ':' || sum(x) || ':' || sum(hashint8(x)) AS key
             FROM (SELECT table_name, xmin::text::bigint AS x FROM table_changes) v GROUP BY 1) t) AS recorded`;

interface Row {
  now: Date;
  midnight: Date;
  /** Per table with recorded changes: how many, and their fingerprint. */
  recorded: Record<string, [number, string]>;
}

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
    const crowded = FINGERPRINTED_TABLES.filter((t) => (row.recorded[t]?.[0] ?? 0) >= PRUNE_AT);
    if (crowded.length > 0) {
      for (const t of crowded) await this.pool.query('SELECT ct_prune_table_changes($1)', [t]);
      row = await this.fetch();
    }
    const tables = {} as Record<FingerprintedTable, string>;
    for (const t of FINGERPRINTED_TABLES) tables[t] = row.recorded[t]?.[1] ?? 'none';
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
