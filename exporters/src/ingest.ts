import {
  withTransaction,
  type ExecutionStatus,
  type N8nClient,
  type N8nExecution,
  type N8nWorkflow,
  type Pool,
  type PoolClient,
} from '@ct/lib';

/**
 * Incremental ingestion of finished n8n executions into Postgres counters.
 *
 * n8n's own counters reset when it restarts, and its public API has no time filter, so each pass
 * reads executions newest first (ids only grow) down to a watermark: every finished execution at
 * or below it has been counted. Executions finish out of order (a long run with a low id ends
 * after many higher ids), so the watermark stays below the lowest unfinished execution, and the
 * finished ones above it that were already counted are remembered one by one
 * (n8n_ingested_executions) until the watermark passes them. Counting and moving the cursor
 * happen in one transaction: a crash in between counts nothing twice and misses nothing.
 *
 * n8n's list leaves out the executions that are running in its process (unless asked for
 * status=running), so running ones are listed first, and the watermark never passes the highest
 * id seen by the previous pass: an execution that started during this pass is seen by the next.
 * The cursor row is locked (SKIP LOCKED) for the pass, so two exporters never ingest at once.
 */

export type FinalStatus = 'success' | 'error' | 'canceled' | 'crashed';
export const FINAL_STATUSES: readonly FinalStatus[] = ['success', 'error', 'canceled', 'crashed'];
const isFinal = (s: ExecutionStatus): s is FinalStatus => (FINAL_STATUSES as readonly string[]).includes(s);

/** What ingestion needs from n8n: N8nClient, or a scripted stand-in in unit tests. */
export type ExecutionSource = Pick<N8nClient, 'workflows' | 'executions'>;

export interface RunningExecution {
  workflowId: string;
  startedAt: string | null;
}

/** What the metrics keep of a workflow (n8n returns every node of it). */
export type WorkflowSummary = Pick<N8nWorkflow, 'id' | 'name' | 'active'>;
const summary = (w: N8nWorkflow): WorkflowSummary => ({ id: w.id, name: w.name, active: w.active });

export interface N8nState {
  workflows: WorkflowSummary[];
  running: RunningExecution[];
}

export interface IngestResult extends N8nState {
  /** False when another exporter held the cursor; nothing was counted by this pass. */
  ingested: boolean;
  /** Executions counted by this pass. */
  counted: number;
  watermark: number;
}

export const WEBHOOK_NODE_TYPE = 'n8n-nodes-base.webhook';

/** True when the workflow is started by an n8n Webhook node. */
export function isWebhookTriggered(wf: Pick<N8nWorkflow, 'nodes'>): boolean {
  return (wf.nodes ?? []).some((n) => n.type === WEBHOOK_NODE_TYPE && n.disabled !== true);
}

const executionId = (e: Pick<N8nExecution, 'id'>): number => {
  const id = Number(e.id);
  if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`n8n returned an execution with an unexpected id ${JSON.stringify(e.id)}`);
  return id;
};

/** Lists what the live metrics need from n8n, without touching the database. */
export async function readN8nState(n8n: ExecutionSource): Promise<N8nState> {
  const workflows: WorkflowSummary[] = [];
  for await (const w of n8n.workflows()) workflows.push(summary(w));
  const running: RunningExecution[] = [];
  for await (const e of n8n.executions({ status: 'running' })) running.push({ workflowId: e.workflowId, startedAt: e.startedAt });
  return { workflows, running };
}

/** The n8n a URL points at, for comparing cursors: origin and path, no trailing slash. */
export function n8nIdentity(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, '')}`;
}

/**
 * Counts the finished executions of `instance` not counted before. With `n8nUrl`, a new instance
 * name for an n8n another cursor already ingests is refused: its executions would count twice.
 */
export async function ingestExecutions(
  pool: Pool,
  n8n: ExecutionSource,
  instance: string,
  opts: { n8nUrl?: string } = {},
): Promise<IngestResult> {
  // One transaction, open across n8n's pages (withTransaction's client survives losing its
  // connection meanwhile); null when another exporter holds the cursor.
  const ingested = await withTransaction(pool, async (client): Promise<IngestResult | null> => {
    const url = opts.n8nUrl ? n8nIdentity(opts.n8nUrl) : null;
    if (url) {
      const { rows: other } = await client.query<{ n8n_instance: string }>(
        `SELECT n8n_instance FROM workflow_execution_cursor
          WHERE n8n_url = $2 AND n8n_instance <> $1
            AND NOT EXISTS (SELECT 1 FROM workflow_execution_cursor WHERE n8n_instance = $1)`,
        [instance, url],
      );
      if (other[0]) {
        throw new Error(
          `${url} is ingested as n8n instance "${other[0].n8n_instance}" already: ingesting it as "${instance}" too would ` +
            `count every execution it keeps again; set EXPORTER_N8N_INSTANCE=${other[0].n8n_instance}`,
        );
      }
    }
    await client.query(
      'INSERT INTO workflow_execution_cursor (n8n_instance, n8n_url) VALUES ($1, $2) ON CONFLICT (n8n_instance) DO NOTHING',
      [instance, url],
    );
    const { rows } = await client.query<{ watermark: string; last_seen: string }>(
      `SELECT last_execution_id::text AS watermark, last_seen_execution_id::text AS last_seen
         FROM workflow_execution_cursor WHERE n8n_instance = $1 FOR UPDATE SKIP LOCKED`,
      [instance],
    );
    if (rows.length === 0) return null;
    // Under the cursor's lock: the cursor follows its n8n when it moves (same name, new address).
    if (url) {
      await client.query('UPDATE workflow_execution_cursor SET n8n_url = $2 WHERE n8n_instance = $1 AND n8n_url IS DISTINCT FROM $2', [
        instance,
        url,
      ]);
    }
    const watermark = Number(rows[0]!.watermark);
    const lastSeen = Number(rows[0]!.last_seen);

    // Order matters: workflows and running executions first, then the newest-first list.
    // Page by page: only the summary and the webhook flag of each workflow are kept, never its nodes.
    const webhookWorkflows = new Set<string>();
    const workflows: WorkflowSummary[] = [];
    for await (const w of n8n.workflows()) {
      if (isWebhookTriggered(w)) webhookWorkflows.add(w.id);
      workflows.push(summary(w));
    }
    const running: RunningExecution[] = [];
    let lowestUnfinished = Infinity;
    let highestSeen = watermark;
    for await (const e of n8n.executions({ status: 'running' })) {
      running.push({ workflowId: e.workflowId, startedAt: e.startedAt });
      const id = executionId(e);
      highestSeen = Math.max(highestSeen, id);
      if (id > watermark) lowestUnfinished = Math.min(lowestUnfinished, id);
    }
    const finished: { id: number; workflowId: string; status: FinalStatus; stoppedAt: string; webhook: boolean }[] = [];
    for await (const e of n8n.executions()) {
      const id = executionId(e);
      if (id <= watermark) break;
      highestSeen = Math.max(highestSeen, id);
      if (isFinal(e.status)) {
        finished.push({
          id,
          workflowId: e.workflowId,
          status: e.status,
          stoppedAt: e.stoppedAt ?? e.startedAt ?? new Date().toISOString(),
          webhook: webhookWorkflows.has(e.workflowId),
        });
      } else {
        lowestUnfinished = Math.min(lowestUnfinished, id); // new, running, waiting, unknown
      }
    }

    const counted = await countFresh(client, instance, finished);

    const candidate = lowestUnfinished === Infinity ? highestSeen : lowestUnfinished - 1;
    const newWatermark = Math.max(watermark, Math.min(candidate, lastSeen));
    await client.query('DELETE FROM n8n_ingested_executions WHERE n8n_instance = $1 AND execution_id <= $2', [instance, newWatermark]);
    await client.query(
      `UPDATE workflow_execution_cursor
          SET last_execution_id = $2, last_seen_execution_id = greatest(last_seen_execution_id, $3), updated_at = now()
        WHERE n8n_instance = $1`,
      [instance, newWatermark, highestSeen],
    );
    return { workflows, running, ingested: true, counted, watermark: newWatermark };
  });
  // The live metrics still need n8n's state, read outside any transaction.
  return ingested ?? { ...(await readN8nState(n8n)), ingested: false, counted: 0, watermark: -1 };
}

/** Counts the executions not counted before; returns how many that was. */
async function countFresh(
  client: PoolClient,
  instance: string,
  finished: { id: number; workflowId: string; status: FinalStatus; stoppedAt: string; webhook: boolean }[],
): Promise<number> {
  if (finished.length === 0) return 0;
  // The remembered set decides what is new, in the same transaction as the counting.
  const { rows } = await client.query<{ execution_id: string }>(
    `INSERT INTO n8n_ingested_executions (n8n_instance, execution_id)
     SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING RETURNING execution_id::text`,
    [instance, finished.map((f) => f.id)],
  );
  const fresh = new Set(rows.map((r) => Number(r.execution_id)));
  const todo = finished.filter((f) => fresh.delete(f.id)); // delete: a repeated id counts once
  if (todo.length === 0) return 0;
  const rowsParams = [todo.map((f) => f.workflowId), todo.map((f) => f.status), todo.map((f) => f.stoppedAt), todo.map((f) => f.webhook)];
  const params = [instance, ...rowsParams];
  const input = `SELECT * FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::boolean[]) AS t(workflow_id, status, stopped_at, webhook)`;
  const inputOnly = input.replace(/\$(\d)/g, (_, n: string) => `$${Number(n) - 1}`);
  await client.query(
    `INSERT INTO workflow_execution_counts AS c (n8n_instance, n8n_workflow_id, status, executions, webhook_executions, last_stopped_at)
     SELECT $1, workflow_id, status, count(*), count(*) FILTER (WHERE webhook), max(stopped_at) FROM (${input}) t
      GROUP BY workflow_id, status ORDER BY workflow_id, status
     ON CONFLICT (n8n_instance, n8n_workflow_id, status) DO UPDATE
       SET executions = c.executions + EXCLUDED.executions,
           webhook_executions = c.webhook_executions + EXCLUDED.webhook_executions,
           last_stopped_at = greatest(c.last_stopped_at, EXCLUDED.last_stopped_at),
           updated_at = now()`,
    params,
  );
  // Savings of successful runs of mapped workflows, at the automation's current value.
  await client.query(
    `INSERT INTO client_savings AS s (client_id, currency, runs, minutes_saved, value_cents)
     SELECT a.client_id, a.currency, count(*), sum(a.minutes_saved_per_run), sum(a.minutes_saved_per_run / 60 * a.hourly_value_cents)
       FROM (${inputOnly}) t JOIN automations a ON a.n8n_workflow_id = t.workflow_id
      WHERE t.status = 'success'
      GROUP BY 1, 2 ORDER BY 1, 2
     ON CONFLICT (client_id, currency) DO UPDATE
       SET runs = s.runs + EXCLUDED.runs,
           minutes_saved = s.minutes_saved + EXCLUDED.minutes_saved,
           value_cents = s.value_cents + EXCLUDED.value_cents,
           updated_at = now()`,
    rowsParams,
  );
  await client.query(
    `INSERT INTO client_webhook_failures AS f (client_id, failures)
     SELECT a.client_id, count(*)
       FROM (${inputOnly}) t JOIN automations a ON a.n8n_workflow_id = t.workflow_id
      WHERE t.webhook AND t.status IN ('error', 'crashed')
      GROUP BY 1 ORDER BY 1
     ON CONFLICT (client_id) DO UPDATE SET failures = f.failures + EXCLUDED.failures, updated_at = now()`,
    rowsParams,
  );
  // Per client and day, in the client's own time zone (what the API's reports read).
  await client.query(
    `INSERT INTO client_daily_stats AS d (client_id, day, workflow_runs, failures, minutes_saved)
     SELECT a.client_id, ct_local_date(t.stopped_at, cl.timezone), count(*),
            count(*) FILTER (WHERE t.status IN ('error', 'crashed')),
            coalesce(sum(a.minutes_saved_per_run) FILTER (WHERE t.status = 'success'), 0)
       FROM (${inputOnly}) t JOIN automations a ON a.n8n_workflow_id = t.workflow_id JOIN clients cl ON cl.id = a.client_id
      GROUP BY 1, 2 ORDER BY 1, 2
     ON CONFLICT (client_id, day) DO UPDATE
       SET workflow_runs = d.workflow_runs + EXCLUDED.workflow_runs,
           failures = d.failures + EXCLUDED.failures,
           minutes_saved = d.minutes_saved + EXCLUDED.minutes_saved,
           updated_at = now()`,
    rowsParams,
  );
  return todo.length;
}
