import type { Pool, PoolClient } from 'pg';

/**
 * 'requested': an action on a system outside the database, recorded before it is done (see
 * migration 025); the row of what it did follows, with one of the other outcomes.
 */
export type AuditOutcome = 'success' | 'failure' | 'denied' | 'partial' | 'requested';
export type ActorType = 'user' | 'api_key' | 'system' | 'grafana';

export interface AuditEntry {
  actor: string;
  actorType?: ActorType;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  clientId?: string | null;
  outcome: AuditOutcome;
  details?: Record<string, unknown>;
  sourceIp?: string | null;
  requestId?: string | null;
}

export interface AuditRow {
  id: string;
  at: Date;
  hash: string;
}

/**
 * Appends one audit row. Pass the transaction's client so the row commits or rolls back with the
 * change it records; the database fills id, time and the chain hashes.
 */
export async function writeAudit(db: Pick<PoolClient | Pool, 'query'>, e: AuditEntry): Promise<AuditRow> {
  const { rows } = await db.query<AuditRow>(
    `INSERT INTO audit_logs (actor, actor_type, action, target_type, target_id, client_id, outcome, details, source_ip, request_id, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', '')
     RETURNING id::text, at, hash`,
    [
      e.actor,
      e.actorType ?? 'system',
      e.action,
      e.targetType ?? null,
      e.targetId ?? null,
      e.clientId ?? null,
      e.outcome,
      JSON.stringify(e.details ?? {}),
      e.sourceIp ?? null,
      e.requestId ?? null,
    ],
  );
  return rows[0]!;
}

export interface ChainVerification {
  ok: boolean;
  rowsChecked: number;
  firstBadId: string | null;
  reason: string | null;
}

/** Walks the whole chain in the database (see audit_chain_verify in migration 003). */
export async function verifyAuditChain(db: Pick<Pool | PoolClient, 'query'>): Promise<ChainVerification> {
  const { rows } = await db.query<{ ok: boolean; rows_checked: string; first_bad_id: string | null; reason: string | null }>(
    'SELECT ok, rows_checked::text, first_bad_id::text, reason FROM audit_chain_verify()',
  );
  const r = rows[0]!;
  return { ok: r.ok, rowsChecked: Number(r.rows_checked), firstBadId: r.first_bad_id, reason: r.reason };
}

/** A chain head recorded outside the database: the chain must hold this row with this hash for ever. */
export interface AuditAnchor {
  id: string;
  hash: string;
  /** Where it was recorded (an object key), named when the chain contradicts it. */
  name: string;
}

export interface RecordedVerification extends ChainVerification {
  durationSeconds: number;
  /** The last row verified (null when the chain is empty or broken): the head to anchor. */
  head: { id: string; hash: string } | null;
  /** How many anchors were checked; null when none were given. */
  anchorsChecked: number | null;
  contradictedAnchor: string | null;
}

/**
 * Verifies the chain in the database, checks that it still holds every anchor given, and records
 * the result (what ct_audit_chain_valid reports) — all in audit_chain_verify_and_record (migration
 * 017), the only writer of audit_verifications. Without `anchors` the chain is checked against
 * itself only (anchorsChecked null).
 */
export async function verifyAndRecordAuditChain(
  db: Pick<Pool | PoolClient, 'query'>,
  anchors?: readonly AuditAnchor[],
): Promise<RecordedVerification> {
  const started = process.hrtime.bigint();
  const { rows } = await db.query<{
    ok: boolean;
    rows_checked: string;
    first_bad_id: string | null;
    reason: string | null;
    last_id: string | null;
    last_hash: string | null;
    anchors_checked: number | null;
    contradicted_anchor: string | null;
  }>(
    `SELECT ok, rows_checked::text, first_bad_id::text, reason, last_id::text, last_hash, anchors_checked, contradicted_anchor
       FROM audit_chain_verify_and_record($1::bigint[], $2::text[], $3::text[])`,
    anchors ? [anchors.map((a) => a.id), anchors.map((a) => a.hash), anchors.map((a) => a.name)] : [null, null, null],
  );
  const r = rows[0]!;
  return {
    ok: r.ok,
    rowsChecked: Number(r.rows_checked),
    firstBadId: r.first_bad_id,
    reason: r.reason,
    durationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
    head: r.last_id !== null && r.last_hash !== null ? { id: r.last_id, hash: r.last_hash } : null,
    anchorsChecked: r.anchors_checked,
    contradictedAnchor: r.contradicted_anchor,
  };
}
