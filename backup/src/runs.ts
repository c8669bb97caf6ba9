import { checkout, errorMessage, withTransaction, writeAudit, type CheckedOut, type Logger, type Pool, type PoolClient } from '@ct/lib';

/**
 * Runs of backups, n8n exports and restore drills, recorded in backup_runs. One run of a kind at
 * a time: the runner holds a session-level advisory lock for the whole run, so a second caller
 * (another process, the API's force-backup, the scheduler) gets the running one instead.
 */

export type RunKind = 'database' | 'n8n' | 'drill';
export type RunStatus = 'running' | 'succeeded' | 'failed';

export interface BackupRun {
  id: string;
  kind: RunKind;
  startedAt: Date;
  finishedAt: Date | null;
  status: RunStatus;
  bytes: number | null;
  objectKey: string | null;
  error: string | null;
  details: Record<string, unknown>;
}

interface RunRow {
  id: string;
  kind: RunKind;
  started_at: Date;
  finished_at: Date | null;
  status: RunStatus;
  bytes: string | null;
  object_key: string | null;
  error: string | null;
  details: Record<string, unknown>;
}

const COLUMNS = 'id, kind, started_at, finished_at, status, bytes, object_key, error, details';

function toRun(r: RunRow): BackupRun {
  return {
    id: r.id,
    kind: r.kind,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    status: r.status,
    bytes: r.bytes === null ? null : Number(r.bytes),
    objectKey: r.object_key,
    error: r.error,
    details: r.details,
  };
}

export interface RunContext {
  run: BackupRun;
  /** The run's lock connection: still usable for queries on the platform database. */
  client: PoolClient;
}

export interface RunOutcome {
  bytes?: number;
  objectKey?: string;
  details?: Record<string, unknown>;
}

export interface StartedRun {
  run: BackupRun;
  /** True when another run of this kind was already going: `run` is that one, and `done` waits for nothing. */
  alreadyRunning: boolean;
  /** Settles when this call's run finishes, with the final row (failed runs resolve too). */
  done: Promise<BackupRun>;
}

export interface RunnerDeps {
  pool: Pool;
  log?: Logger;
  /** Who asked, for the audit log (e.g. `scheduler`, `cli`, or the API's user). */
  actor?: string;
  actorType?: 'user' | 'api_key' | 'system' | 'grafana';
}

const lockKey = (kind: RunKind) => `ct.backup.${kind}`;

export class RunFailure extends Error {
  constructor(
    message: string,
    readonly partial: RunOutcome = {},
  ) {
    super(message);
    this.name = 'RunFailure';
  }
}

/**
 * Starts a run of `kind` unless one is going. `work` runs in the background; the returned promise
 * resolves as soon as the run row exists, so an HTTP handler can answer at once.
 */
export async function startRun(deps: RunnerDeps, kind: RunKind, work: (ctx: RunContext) => Promise<RunOutcome>): Promise<StartedRun> {
  // Another runner may hold the lock but not have inserted its row yet: look again briefly.
  for (let attempt = 0; attempt < 50; attempt++) {
    // The lock lives as long as this session, which may be lost mid-run: the run goes on.
    const session = await checkout(deps.pool, {
      onLost: (err) => deps.log?.warn({ kind, err: errorMessage(err) }, `lost the ${kind} run's lock connection; the run goes on`),
    });
    let keep = false;
    try {
      const { rows } = await session.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [lockKey(kind)]);
      if (rows[0]!.ok) {
        const run = await begin(session.client, deps, kind);
        keep = true;
        const done = execute(session, deps, run, work);
        return { run, alreadyRunning: false, done };
      }
      const running = await session.client.query<RunRow>(`SELECT ${COLUMNS} FROM backup_runs WHERE kind = $1 AND status = 'running'`, [
        kind,
      ]);
      if (running.rows[0]) {
        const run = toRun(running.rows[0]);
        return { run, alreadyRunning: true, done: Promise.resolve(run) };
      }
    } finally {
      if (!keep) session.done();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`another ${kind} run holds the lock but recorded no running row`);
}

/** Under the lock: a `running` row can only be left by a process that died; close it, then insert ours. */
async function begin(client: PoolClient, deps: RunnerDeps, kind: RunKind): Promise<BackupRun> {
  try {
    await client.query('BEGIN');
    const stale = await client.query<{ id: string }>(
      `UPDATE backup_runs SET status = 'failed', finished_at = now(),
         error = 'abandoned: the process running it ended before it finished'
       WHERE kind = $1 AND status = 'running' RETURNING id`,
      [kind],
    );
    for (const s of stale.rows) {
      await writeAudit(client, {
        actor: deps.actor ?? 'system',
        actorType: deps.actorType ?? 'system',
        action: `backup.${kind}.abandoned`,
        targetType: 'backup_run',
        targetId: s.id,
        outcome: 'failure',
        details: { reason: 'stale running row found when the next run took the lock' },
      });
    }
    const { rows } = await client.query<RunRow>(`INSERT INTO backup_runs (kind) VALUES ($1) RETURNING ${COLUMNS}`, [kind]);
    await client.query('COMMIT');
    if (stale.rows.length > 0) deps.log?.warn({ kind, runs: stale.rows.map((r) => r.id) }, 'marked abandoned running rows as failed');
    return toRun(rows[0]!);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey(kind)]).catch(() => undefined);
    throw err; // the caller returns the client
  }
}

/** Runs the work under the lock, records the end of the run, then lets go of the lock. */
async function execute(
  session: CheckedOut,
  deps: RunnerDeps,
  run: BackupRun,
  work: (ctx: RunContext) => Promise<RunOutcome>,
): Promise<BackupRun> {
  let outcome: RunOutcome = {};
  let error: string | null = null;
  try {
    outcome = await work({ run, client: session.client });
  } catch (err) {
    error = errorMessage(err) || 'unknown error';
    if (err instanceof RunFailure) outcome = err.partial;
    deps.log?.error({ kind: run.kind, run: run.id, err: error }, `${run.kind} run failed`);
  }
  try {
    return await finish(deps.pool, deps, run, error, outcome);
  } catch (err) {
    // `done` resolves whatever happens (callers such as the API do not wait for it); the row stays
    // `running` and the next run of the kind marks it abandoned.
    const why = `recording the end of the run failed: ${errorMessage(err)}`;
    deps.log?.error({ kind: run.kind, run: run.id, err: errorMessage(err) }, why);
    const what = error ?? (outcome.objectKey ? `the backup was stored as ${outcome.objectKey}` : 'the run finished');
    return {
      ...run,
      status: 'failed',
      finishedAt: new Date(),
      bytes: outcome.bytes ?? null,
      objectKey: outcome.objectKey ?? null,
      error: `${what}, but ${why}`,
    };
  } finally {
    // A lost session took the lock with it; otherwise let go of it before the client goes back.
    if (!session.lost()) {
      await session.client.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey(run.kind)]).catch(() => undefined);
    }
    session.done();
  }
}

/** Records the end of a run and its audit row in one transaction. */
async function finish(pool: Pool, deps: RunnerDeps, run: BackupRun, error: string | null, outcome: RunOutcome): Promise<BackupRun> {
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<RunRow>(
      `UPDATE backup_runs SET status = $2, finished_at = now(), bytes = $3, object_key = $4, error = $5, details = $6
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [
        run.id,
        error ? 'failed' : 'succeeded',
        outcome.bytes ?? null,
        outcome.objectKey ?? null,
        error,
        JSON.stringify(outcome.details ?? {}),
      ],
    );
    await writeAudit(tx, {
      actor: deps.actor ?? 'system',
      actorType: deps.actorType ?? 'system',
      action: `backup.${run.kind}`,
      targetType: 'backup_run',
      targetId: run.id,
      outcome: error ? 'failure' : 'success',
      details: { objectKey: outcome.objectKey ?? null, bytes: outcome.bytes ?? null, ...(error ? { error } : {}) },
    });
    return toRun(rows[0]!);
  });
}

export async function getRun(pool: Pool, id: string): Promise<BackupRun | null> {
  const { rows } = await pool.query<RunRow>(`SELECT ${COLUMNS} FROM backup_runs WHERE id = $1`, [id]);
  return rows[0] ? toRun(rows[0]) : null;
}

export async function listRuns(pool: Pool, opts: { kind?: RunKind; limit?: number } = {}): Promise<BackupRun[]> {
  const { rows } = await pool.query<RunRow>(
    `SELECT ${COLUMNS} FROM backup_runs WHERE ($1::text IS NULL OR kind = $1) ORDER BY started_at DESC LIMIT $2`,
    [opts.kind ?? null, opts.limit ?? 50],
  );
  return rows.map(toRun);
}

/**
 * Failed runs of `kind` since its last successful one: what ct_backup_consecutive_failures
 * reports (status 'failed' rows, ordered by started_at, after the latest 'succeeded' row).
 */
export const CONSECUTIVE_FAILURES_SQL = `SELECT count(*)::int AS n FROM backup_runs
  WHERE kind = $1 AND status = 'failed'
    AND started_at > coalesce((SELECT max(started_at) FROM backup_runs WHERE kind = $1 AND status = 'succeeded'), '-infinity')`;

export async function consecutiveFailures(pool: Pick<Pool, 'query'>, kind: RunKind): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(CONSECUTIVE_FAILURES_SQL, [kind]);
  return rows[0]!.n;
}
