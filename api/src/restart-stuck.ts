import { createHmac } from 'node:crypto';
import type { N8nClient, N8nExecution, Pool } from '@ct/lib';
import { errorMessage, N8nError, safeEqual } from '@ct/lib';

/**
 * Restart stuck workflows: executions running longer than a threshold are stopped and retried.
 * n8n 2.8 has no public stop route; N8nClient.stopExecution falls back to the session route.
 */

export interface StuckExecution {
  executionId: string;
  workflowId: string;
  client: string | null;
  automation: string | null;
  startedAt: string;
  runningSeconds: number;
}

export type RestartResult =
  | (StuckExecution & {
      result: 'restarted';
      stoppedVia: 'public' | 'session';
      newExecutionId: string;
      newExecutionStatus: string;
      /**
       * Nodes the retry itself ran (not the runs it copied from the stopped execution); while the
       * retry is still running (newExecutionStatus "running"), those it has run so far.
       */
      rerunNodes: string[];
      /** Set when the retry resumed from saved state without running anything again (see docs/api.md). */
      warning?: string;
    })
  | (StuckExecution & { result: 'failed'; stage: 'stop' | 'retry'; reason: string; stopped: boolean });

export async function findStuckExecutions(
  pool: Pool,
  n8n: N8nClient,
  /** includeUnmapped: also executions of workflows no automation maps to a client (never with clientId). */
  opts: { clientId?: string; olderThanSeconds: number; limit?: number; includeUnmapped?: boolean },
): Promise<StuckExecution[]> {
  const { rows } = await pool.query<{ n8n_workflow_id: string; name: string; slug: string; client_id: string }>(
    `SELECT a.n8n_workflow_id, a.name, c.slug, c.id AS client_id FROM automations a JOIN clients c ON c.id = a.client_id
      WHERE $1::uuid IS NULL OR a.client_id = $1::uuid`,
    [opts.clientId ?? null],
  );
  const byWorkflow = new Map(rows.map((r) => [r.n8n_workflow_id, r]));
  if (opts.clientId && byWorkflow.size === 0) return [];
  const now = Date.now();
  const out: StuckExecution[] = [];
  const consider = (e: N8nExecution) => {
    if (!e.startedAt || e.stoppedAt) return;
    const running = (now - Date.parse(e.startedAt)) / 1000;
    const mapped = byWorkflow.get(String(e.workflowId));
    if (running < opts.olderThanSeconds || (!mapped && (opts.clientId || !opts.includeUnmapped))) return;
    out.push({
      executionId: String(e.id),
      workflowId: String(e.workflowId),
      client: mapped?.slug ?? null,
      automation: mapped?.name ?? null,
      startedAt: e.startedAt,
      runningSeconds: Math.round(running),
    });
  };
  if (opts.clientId) {
    for (const wf of byWorkflow.keys()) for await (const e of n8n.executions({ status: 'running', workflowId: wf })) consider(e);
  } else {
    for await (const e of n8n.executions({ status: 'running' })) consider(e);
  }
  out.sort((a, b) => b.runningSeconds - a.runningSeconds);
  return out.slice(0, opts.limit ?? 100);
}

/** Stops then retries each execution, reporting per execution; never throws for one failure. */
export async function restartExecutions(n8n: N8nClient, stuck: StuckExecution[]): Promise<RestartResult[]> {
  const results: RestartResult[] = [];
  for (const s of stuck) {
    let via: 'public' | 'session';
    try {
      via = (await n8n.stopExecution(s.executionId)).via;
    } catch (err) {
      results.push({ ...s, result: 'failed', stage: 'stop', reason: errorMessage(err), stopped: false });
      continue;
    }
    try {
      await waitUntilStopped(n8n, s.executionId);
      const retried = await retryStopped(n8n, s);
      const rerunNodes = nodesRunSince(retried, Date.parse(retried.startedAt ?? '') || 0);
      results.push({
        ...s,
        result: 'restarted',
        stoppedVia: via,
        newExecutionId: String(retried.id),
        newExecutionStatus: retried.status,
        rerunNodes,
        ...(rerunNodes.length === 0 && retried.status !== 'running'
          ? {
              warning:
                'n8n resumed the stopped execution from its saved state and ran no node again; re-trigger the workflow if its work must be redone',
            }
          : {}),
      });
    } catch (err) {
      results.push({ ...s, result: 'failed', stage: 'retry', reason: errorMessage(err), stopped: true });
    }
  }
  return results;
}

/**
 * How long the action waits for a retry to end. n8n answers a retry only when the retried execution
 * has ended, and one that runs the workflow's work again lasts as long as that work.
 */
export const RETRY_WAIT_SECONDS = 5;

/**
 * Retries a stopped execution. A retry still running after RETRY_WAIT_SECONDS is found in n8n's
 * list (by retryOf) and reported as it stands: it was started, which is what the action does.
 */
export async function retryStopped(n8n: N8nClient, s: Pick<StuckExecution, 'executionId' | 'workflowId'>): Promise<N8nExecution> {
  try {
    return await n8n.retryExecution(s.executionId, { timeoutSeconds: RETRY_WAIT_SECONDS });
  } catch (err) {
    if (!(err instanceof N8nError && err.timedOut)) throw err;
    // n8n lists running executions only when asked for them; one that ended since is among the
    // workflow's newest: one page of each, newest first.
    for (const status of ['running', undefined] as const) {
      let seen = 0;
      for await (const e of n8n.executions({ workflowId: s.workflowId, status, pageSize: 100 })) {
        if (String(e.retryOf ?? '') === s.executionId) return n8n.getExecution(String(e.id), true);
        if (++seen === 100) break;
      }
    }
    throw new N8nError(`n8n did not answer the retry within ${RETRY_WAIT_SECONDS} s and lists no retry of execution ${s.executionId}`);
  }
}

/** A stop is asynchronous in n8n: wait (briefly) until the execution is no longer running. */
async function waitUntilStopped(n8n: N8nClient, id: string): Promise<N8nExecution> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const e = await n8n.getExecution(id);
    if (e.stoppedAt || !['running', 'new'].includes(e.status) || Date.now() > deadline) return e;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Nodes that ran during the retried execution itself: its run data also holds the runs copied from
 * the stopped execution, which keep their original start times.
 */
function nodesRunSince(e: N8nExecution, sinceMs: number): string[] {
  const runData =
    (e.data as { resultData?: { runData?: Record<string, { startTime?: number }[]> } } | undefined)?.resultData?.runData ?? {};
  return Object.entries(runData)
    .filter(([, runs]) => Array.isArray(runs) && runs.some((r) => typeof r.startTime === 'number' && r.startTime >= sinceMs))
    .map(([name]) => name);
}

/**
 * What an operator reviewed: a dry run's executions and filters, signed (HMAC-SHA256 with the API's
 * JWT secret, under its own label) and valid for REVIEW_TTL_SECONDS. The real run acts only on
 * these executions, and only on those still stuck.
 */
export interface StuckReview {
  executionIds: string[];
  client: string | null;
  olderThanSeconds: number;
  includeUnmapped: boolean;
  /** Unix seconds. */
  expiresAt: number;
}

export const REVIEW_TTL_SECONDS = 600;
const REVIEW_LABEL = 'ct.restart-stuck.review.v1';

function reviewMac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(`${REVIEW_LABEL}\n${payload}`).digest('base64url');
}

export function signStuckReview(
  secret: string,
  r: Omit<StuckReview, 'expiresAt'>,
  nowMs = Date.now(),
): { token: string; expiresAt: string } {
  const review: StuckReview = { ...r, executionIds: [...r.executionIds].sort(), expiresAt: Math.floor(nowMs / 1000) + REVIEW_TTL_SECONDS };
  const payload = Buffer.from(JSON.stringify(review)).toString('base64url');
  return { token: `${payload}.${reviewMac(secret, payload)}`, expiresAt: new Date(review.expiresAt * 1000).toISOString() };
}

/** The review a token carries, or why it cannot be used. */
export function readStuckReview(secret: string, token: string, nowMs = Date.now()): StuckReview | { problem: string } {
  const [payload = '', mac = '', extra] = token.split('.');
  if (extra !== undefined || !payload || !safeEqual(mac, reviewMac(secret, payload)))
    return { problem: 'is not a review token of a dry run of this API' };
  let review: StuckReview;
  try {
    review = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as StuckReview;
  } catch {
    return { problem: 'is not a review token of a dry run of this API' };
  }
  if (!(review.expiresAt * 1000 > nowMs)) return { problem: 'has expired: list the stuck executions again (dry run) and review them' };
  return review;
}
