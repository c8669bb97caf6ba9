import { errorMessage, withTransaction, type Logger, type Pool, type PoolClient } from '@ct/lib';
import { getRun, type BackupRun, type RunnerDeps, type StartedRun } from './runs';

/**
 * "Force a backup" for a process that holds no backup keys (the API). It records a request in
 * backup_requests and notifies NOTIFY_CHANNEL; the scheduler, the only service with the master key
 * and the S3 write credentials, claims it and starts the run (serveBackupRequests). The requester
 * waits a bounded time for the run's id; a request nobody took in that time is withdrawn, so a
 * click never starts a backup long after the operator saw it fail.
 */

export const NOTIFY_CHANNEL = 'ct_backup_requests';

export type RequestStatus = 'pending' | 'started' | 'failed' | 'expired';

interface RequestRow {
  id: string;
  status: RequestStatus;
  run_id: string | null;
  already_running: boolean;
  error: string | null;
  actor: string;
  actor_type: NonNullable<RunnerDeps['actorType']>;
}

export interface RequestBackupOptions {
  pool: Pool;
  actor: string;
  actorType: NonNullable<RunnerDeps['actorType']>;
  requestId?: string;
  /** How long to wait for a scheduler to start the run (default 15 s). */
  waitMs?: number;
  /** How often to look at the request while waiting (default 100 ms). */
  pollMs?: number;
}

/** No scheduler took the request in time; it has been withdrawn. */
export class BackupRequestNotTaken extends Error {
  constructor(readonly waitedMs: number) {
    super(
      `no backup scheduler took the request within ${Math.round(waitedMs / 1000)} s, so it was withdrawn: ` +
        'is `ct serve scheduler` running and connected to this database? (docs/backup.md)',
    );
    this.name = 'BackupRequestNotTaken';
  }
}

/** The scheduler took the request but could not start a run. */
export class BackupRequestFailed extends Error {
  constructor(reason: string) {
    super(`the backup scheduler could not start the backup: ${reason}`);
    this.name = 'BackupRequestFailed';
  }
}

/**
 * Asks the scheduler for a database backup and resolves with the run that answers it (a run already
 * going answers too, with alreadyRunning). Two requests while one waits share it.
 */
export async function requestDatabaseBackup(
  opts: RequestBackupOptions,
): Promise<{ run: BackupRun; alreadyRunning: boolean; requestId: string }> {
  const { pool } = opts;
  const running = await pool.query<{ id: string }>("SELECT id FROM backup_runs WHERE kind = 'database' AND status = 'running'");
  if (running.rows[0]) {
    const run = await getRun(pool, running.rows[0].id);
    if (run) return { run, alreadyRunning: true, requestId: '' };
  }
  const id = await withTransaction(pool, async (tx) => {
    // Join the pending request, or record one. The INSERT gives way to a pending request that the
    // SELECT, a later statement, may no longer find: a scheduler can take it in between (it was
    // committed and waiting). Nothing is pending then, so record this click's own request, which
    // the scheduler answers with the run it has just started.
    let requestId: string | undefined;
    for (let attempt = 0; !requestId; attempt++) {
      if (attempt === 5) throw new Error('the backup request was neither recorded nor found pending');
      const inserted = await tx.query<{ id: string }>(
        `INSERT INTO backup_requests (kind, actor, actor_type, request_id) VALUES ('database', $1, $2, $3)
         ON CONFLICT (kind) WHERE status = 'pending' DO NOTHING RETURNING id`,
        [opts.actor.slice(0, 200), opts.actorType, opts.requestId ?? null],
      );
      requestId =
        inserted.rows[0]?.id ??
        (await tx.query<{ id: string }>("SELECT id FROM backup_requests WHERE kind = 'database' AND status = 'pending'")).rows[0]?.id;
    }
    // Delivered when this transaction commits, so the scheduler never sees an uncommitted row.
    await tx.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, requestId]);
    return requestId;
  });
  const waitMs = opts.waitMs ?? 15_000;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const row = await readRequest(pool, id);
    if (row.status !== 'pending') return settle(pool, row);
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
  }
  // Withdraw it, unless a scheduler took it meanwhile (it holds the row while starting the run, so
  // this waits for that and then finds the row no longer pending).
  const withdrawn = await pool.query(
    "UPDATE backup_requests SET status = 'expired', error = 'no scheduler took it in time' WHERE id = $1 AND status = 'pending'",
    [id],
  );
  if (withdrawn.rowCount === 0) return settle(pool, await readRequest(pool, id));
  throw new BackupRequestNotTaken(waitMs);
}

async function readRequest(pool: Pool, id: string): Promise<RequestRow> {
  const { rows } = await pool.query<RequestRow>(
    'SELECT id, status, run_id, already_running, error, actor, actor_type FROM backup_requests WHERE id = $1',
    [id],
  );
  if (!rows[0]) throw new Error(`backup request ${id} disappeared`);
  return rows[0];
}

async function settle(pool: Pool, row: RequestRow): Promise<{ run: BackupRun; alreadyRunning: boolean; requestId: string }> {
  if (row.status === 'failed') throw new BackupRequestFailed(row.error ?? 'no reason recorded');
  if (row.status === 'expired') throw new BackupRequestFailed(row.error ?? 'the request expired');
  const run = await getRun(pool, row.run_id!);
  if (!run) throw new Error(`backup request ${row.id} names run ${row.run_id}, which does not exist`);
  return { run, alreadyRunning: row.already_running, requestId: row.id };
}

export interface ServeRequestsOptions {
  pool: Pool;
  log?: Logger;
  /** Starts the run for a claimed request, as its requester (the scheduler's startDatabaseBackup). */
  start(requester: Pick<RunnerDeps, 'actor' | 'actorType'>): Promise<StartedRun>;
  /** Fallback look at the table, for notifications missed while reconnecting (default 5 s). */
  pollMs?: number;
  /** Pending requests older than this are expired, not started (default 2 min). */
  maxAgeMs?: number;
}

/**
 * The scheduler's side: listens on NOTIFY_CHANNEL (reconnecting when the connection is lost) and
 * looks at the table every pollMs as well; claims pending requests one at a time with SKIP LOCKED,
 * so two schedulers never start the same request, and records the run that answers each.
 */
export async function serveBackupRequests(opts: ServeRequestsOptions): Promise<{ stop(): Promise<void>; drain(): Promise<void> }> {
  const { pool, log } = opts;
  let stopped = false;
  let listener: { client: PoolClient; close(): void } | undefined;
  let reconnect: NodeJS.Timeout | undefined;
  // One pass at a time; a wake-up during a pass runs one more pass after it.
  let pass: Promise<void> = Promise.resolve();
  let again = false;
  let running = false;
  const wake = (): Promise<void> => {
    if (stopped) return pass;
    if (running) {
      again = true;
      return pass;
    }
    running = true;
    pass = (async () => {
      try {
        do {
          again = false;
          await takeAll(opts).catch((err) => log?.error({ err: errorMessage(err) }, 'serving backup requests failed'));
        } while (again && !stopped);
      } finally {
        running = false;
      }
    })();
    return pass;
  };
  // The listening attempt in progress: stop() waits for it, so none ends after stop() holding a connection.
  let attempt: Promise<void> = Promise.resolve();
  const retrySoon = () => {
    if (!stopped) reconnect = setTimeout(() => void (attempt = listen()), 1000);
  };
  const listen = async (): Promise<void> => {
    if (stopped) return;
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      log?.warn({ err: errorMessage(err) }, 'cannot listen for backup requests yet; retrying');
      return retrySoon();
    }
    let lost = false;
    // A terminated connection emits `error` when it was busy and only `end` when it was idle; a
    // LISTEN that fails rejects as well. Each loss is handled once, with one reconnection.
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      if (listener?.client === client) listener = undefined;
      client.release(err ?? new Error('connection ended'));
      if (stopped) return;
      log?.warn({ err: err ? errorMessage(err) : 'connection ended' }, 'lost the backup requests connection; reconnecting');
      retrySoon();
    };
    client.on('notification', () => void wake());
    client.on('error', onLost);
    client.on('end', () => onLost());
    try {
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (err) {
      return onLost(err instanceof Error ? err : new Error(String(err)));
    }
    if (stopped) {
      // Stopped meanwhile: a listening connection must not go back to the pool.
      lost = true;
      client.release(true);
      return;
    }
    listener = {
      client,
      close() {
        lost = true;
        client.release();
      },
    };
    // Anything requested while not listening.
    void wake();
  };
  attempt = listen();
  await attempt;
  const poll = setInterval(() => void wake(), opts.pollMs ?? 5000);
  return {
    drain: () => wake(),
    async stop() {
      stopped = true;
      clearInterval(poll);
      clearTimeout(reconnect);
      await attempt;
      await pass;
      if (listener) {
        await listener.client.query(`UNLISTEN ${NOTIFY_CHANNEL}`).catch(() => undefined);
        listener.close();
        listener = undefined;
      }
    },
  };
}

/** Claims and starts every pending request, oldest first. */
async function takeAll(opts: ServeRequestsOptions): Promise<void> {
  const maxAgeSeconds = (opts.maxAgeMs ?? 120_000) / 1000;
  await opts.pool.query(
    `UPDATE backup_requests SET status = 'expired', error = 'no scheduler took it in time'
     WHERE status = 'pending' AND requested_at < now() - make_interval(secs => $1)`,
    [maxAgeSeconds],
  );
  while (await takeOne(opts)) {
    /* next */
  }
}

async function takeOne(opts: ServeRequestsOptions): Promise<boolean> {
  return withTransaction(opts.pool, async (tx) => {
    const { rows } = await tx.query<RequestRow>(
      `SELECT id, status, run_id, already_running, error, actor, actor_type FROM backup_requests
       WHERE status = 'pending' ORDER BY requested_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
    );
    const req = rows[0];
    if (!req) return false;
    try {
      const started = await opts.start({ actor: req.actor, actorType: req.actor_type });
      await tx.query("UPDATE backup_requests SET status = 'started', picked_at = now(), run_id = $2, already_running = $3 WHERE id = $1", [
        req.id,
        started.run.id,
        started.alreadyRunning,
      ]);
      opts.log?.info({ request: req.id, run: started.run.id, actor: req.actor }, 'backup request started');
    } catch (err) {
      await tx.query("UPDATE backup_requests SET status = 'failed', picked_at = now(), error = $2 WHERE id = $1", [
        req.id,
        errorMessage(err).slice(0, 500),
      ]);
      opts.log?.error({ request: req.id, err: errorMessage(err) }, 'backup request could not start');
    }
    return true;
  });
}
