import { verifyAuditChain } from '@ct/lib';
import { restartExecutions, RETRY_WAIT_SECONDS, retryStopped } from '@ct/api';
import { createCodeWebhookWorkflow, createSleepyWorkflow } from '../helpers/sleepy-workflow';
import { n8nFromBench, startTestApi, type TestApi } from './harness';

/**
 * Restart stuck workflows against the bench's real n8n: a webhook-triggered workflow whose Code
 * node sleeps is detected as stuck, stopped (session route on n8n 2.8) and retried.
 */
const n8n = n8nFromBench();
let api: TestApi;
let workflowId: string;
let path: string;

beforeAll(async () => {
  // The sleeping executions here are seconds old: the minimum olderThan (5 minutes by default) is lowered.
  api = await startTestApi({ settings: { stuckMinAgeSeconds: 1 } });
  ({ id: workflowId, path } = await createSleepyWorkflow(n8n, 'stuck'));
  await api.call('POST', '/api/clients', { body: { slug: 'slow-bakery', name: 'Slow Bakery' } });
  const a = await api.call('POST', '/api/automations', {
    body: { client: 'slow-bakery', n8nWorkflowId: workflowId, minutesSavedPerRun: 3, hourlyValueCents: 2000 },
  });
  expect(a.status).toBe(201);
});

afterAll(async () => {
  // Stop anything this suite left running, then remove the workflow.
  for (const e of await n8n.listExecutions({ status: 'running', workflowId }).catch(() => []))
    await n8n.stopExecution(String(e.id)).catch(() => undefined);
  await n8n.deactivateWorkflow(workflowId).catch(() => undefined);
  await n8n.deleteWorkflow(workflowId).catch(() => undefined);
  await api.close();
});

/**
 * Triggers the sleeping workflow and waits until n8n lists the run as running, then `ageMs` more; its id.
 * The run is told apart by id, not by status: an execution of this workflow that existed before the
 * trigger (an earlier test's retry, which in queue mode a worker may still hold as running) or a
 * retry is never it.
 */
async function startSleepingExecution(ageMs: number): Promise<string> {
  const before = new Set((await n8n.listExecutions({ workflowId })).map((e) => String(e.id)));
  const trigger = await fetch(`${process.env.N8N_URL}/webhook/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"order":1}',
  });
  expect(trigger.status).toBe(200);
  let running: { id: string | number }[] = [];
  for (let i = 0; i < 50 && running.length === 0; i++) {
    running = (await n8n.listExecutions({ status: 'running', workflowId })).filter((e) => !before.has(String(e.id)) && e.retryOf == null);
    if (!running.length) await new Promise((r) => setTimeout(r, 200));
  }
  expect(running).toHaveLength(1);
  await new Promise((r) => setTimeout(r, ageMs));
  return String(running[0]!.id);
}

const ROUTE = '/api/admin/executions/restart-stuck';

/** The last audit row's id: rows written after it are the ones a test looks at. */
async function lastAuditId(): Promise<string> {
  return (await api.pool.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM audit_logs')).rows[0]!.id;
}

/** The committed audit rows of restart-stuck after `afterId`, in chain order. */
async function restartRows(afterId: string) {
  const { rows } = await api.pool.query(
    `SELECT action, outcome, target_id, request_id, details FROM audit_logs
      WHERE action IN ('workflows.restart_stuck.request', 'workflows.restart_stuck') AND id > $1 ORDER BY id`,
    [afterId],
  );
  return rows;
}

/**
 * The retries n8n holds of an execution. n8n lists running executions only when asked; running
 * first, so one ending meanwhile is in the second list.
 */
async function retriesOf(executionId: string) {
  const all = [...(await n8n.listExecutions({ workflowId, status: 'running' })), ...(await n8n.listExecutions({ workflowId }))];
  return [...new Map(all.filter((e) => String(e.retryOf) === executionId).map((e) => [String(e.id), e])).values()];
}

it('detects a sleeping execution, stops and retries it, and audits the result', async () => {
  await startSleepingExecution(1500);

  // A threshold above its age finds nothing; below it, the dry run lists it and changes nothing.
  const notYet = await api.call('POST', '/api/admin/executions/restart-stuck', { body: { client: 'slow-bakery', olderThan: '10m' } });
  expect(notYet.body.stuck).toEqual([]);
  const dry = await api.call('POST', '/api/admin/executions/restart-stuck', { body: { client: 'slow-bakery', olderThan: '1s' } });
  expect(dry.status).toBe(200);
  expect(dry.body.dryRun).toBe(true);
  expect(dry.body.stuck).toHaveLength(1);
  expect(dry.body.reviewToken).toEqual(expect.any(String));
  expect(Date.parse(dry.body.reviewExpiresAt)).toBeGreaterThan(Date.now());
  const stuck = dry.body.stuck[0];
  expect(stuck).toMatchObject({ workflowId, client: 'slow-bakery' });
  expect(stuck.runningSeconds).toBeGreaterThanOrEqual(1);
  expect((await n8n.getExecution(stuck.executionId)).status).toBe('running');
  expect((await api.pool.query("SELECT 1 FROM audit_logs WHERE action = 'workflows.restart_stuck'")).rowCount).toBe(0);

  const run = await api.call('POST', '/api/admin/executions/restart-stuck', {
    body: { client: 'slow-bakery', olderThan: '1s', dryRun: false, reviewToken: dry.body.reviewToken },
  });
  expect(run.status).toBe(200);
  // The whole result is compared, so a failure shows n8n's reason.
  expect(run.body).toMatchObject({
    outcome: 'success',
    results: [expect.objectContaining({ executionId: stuck.executionId, result: 'restarted', stoppedVia: 'session' })],
  });
  const result = run.body.results[0];
  expect(result.newExecutionId).not.toBe(stuck.executionId);

  const original = await n8n.getExecution(stuck.executionId);
  expect(original.status).toBe('canceled');
  const retried = await n8n.getExecution(result.newExecutionId);
  expect(String(retried.retryOf)).toBe(stuck.executionId);
  if (result.newExecutionStatus === 'running') {
    // Queue mode, when the main instance's write of the stop lands after the worker's: the retry
    // resumes from the state saved at the start and runs the sleeping Code node again. The action
    // reports it running after RETRY_WAIT_SECONDS, without the "ran no node again" warning.
    expect(retried.status).toBe('running');
    expect(result.warning).toBeUndefined();
    await n8n.stopExecution(result.newExecutionId); // it would sleep two minutes and look stuck to the next test
  } else {
    // What n8n 2.8.4 does otherwise: the retry resumes from the saved state of the canceled
    // execution, in which the interrupted Code node never completed and the stack is empty; the
    // retry finishes at once as success without running the Code node again. The action reports it.
    expect(retried.status).toBe('success');
    expect(result.rerunNodes).toEqual([]);
    expect(result.warning).toMatch(/ran no node again/);
  }

  const { rows } = await api.pool.query(
    "SELECT actor, outcome, target_id, details FROM audit_logs WHERE action = 'workflows.restart_stuck'",
  );
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ actor: expect.stringContaining('api_key:admin'), outcome: 'success', target_id: 'slow-bakery' });
  expect(rows[0].details.reviewed).toEqual([stuck.executionId]);
  expect(rows[0].details.results[0]).toMatchObject({
    executionId: stuck.executionId,
    result: 'restarted',
    newExecutionId: result.newExecutionId,
  });
  // Before it, the request: what was about to be stopped and retried, by whom, in the same request.
  const trail = await restartRows('0');
  expect(trail.map((x) => [x.action, x.outcome])).toEqual([
    ['workflows.restart_stuck.request', 'requested'],
    ['workflows.restart_stuck', 'success'],
  ]);
  expect(trail[0]).toMatchObject({ target_id: stuck.executionId, request_id: trail[1].request_id });
  expect(trail[0].details).toEqual({
    client: 'slow-bakery',
    includeUnmapped: false,
    executions: [{ ...stuck, runningSeconds: expect.any(Number) }], // listed again under the lock: a little older
  });
  const requested = await api.pool.query("SELECT actor, client_id IS NOT NULL AS has_client FROM audit_logs WHERE outcome = 'requested'");
  expect(requested.rows).toEqual([{ actor: rows[0].actor, has_client: true }]);

  // Safe to repeat: nothing is stuck any more.
  const again = await api.call('POST', '/api/admin/executions/restart-stuck', {
    body: { client: 'slow-bakery', olderThan: '1s', dryRun: false, reviewToken: dry.body.reviewToken },
  });
  expect(again.body).toMatchObject({ outcome: 'success', results: [] });
  // Nothing to act on: nothing requested, only the (empty) outcome.
  expect((await restartRows('0')).map((x) => x.outcome)).toEqual(['requested', 'success', 'success']);
  expect((await verifyAuditChain(api.pool)).ok).toBe(true);
  expect(await api.scrape()).toMatch(/ct_quick_actions_total\{action="restart_stuck",outcome="success"\} 2/);
});

it('two restarts at once act on a stuck execution once: the second is refused or finds nothing left', async () => {
  const stuckId = await startSleepingExecution(1200);
  const review = await api.call('POST', '/api/admin/executions/restart-stuck', { body: { client: 'slow-bakery', olderThan: '1s' } });
  expect(review.body.stuck.map((x: { executionId: string }) => x.executionId)).toEqual([stuckId]);
  const body = { client: 'slow-bakery', olderThan: '1s', dryRun: false, reviewToken: review.body.reviewToken };
  const [a, b] = await Promise.all([
    api.call('POST', '/api/admin/executions/restart-stuck', { body }),
    api.call('POST', '/api/admin/executions/restart-stuck', { body }),
  ]);
  const acted = [a, b].filter((r) => r.status === 200 && r.body.results.length > 0);
  expect(acted).toHaveLength(1);
  expect(acted[0]!.body.results).toEqual([expect.objectContaining({ executionId: stuckId, result: 'restarted' })]);
  const other = acted[0] === a ? b : a;
  if (other.status === 409) expect(other.body.message).toMatch(/being restarted already/);
  else expect(other.body).toMatchObject({ dryRun: false, results: [] });
  // n8n holds exactly one retry of it (running, when it runs the Code node again: see the first test).
  const retries = await retriesOf(stuckId);
  expect(retries).toHaveLength(1);
  if (retries[0]!.status === 'running') await n8n.stopExecution(String(retries[0]!.id));
});

it('acts only on listed executions that are still stuck', async () => {
  const review = await api.call('POST', '/api/admin/executions/restart-stuck', { body: { client: 'slow-bakery', olderThan: '1s' } });
  const res = await api.call('POST', '/api/admin/executions/restart-stuck', {
    body: { client: 'slow-bakery', olderThan: '1s', dryRun: false, executionIds: ['999999999'], reviewToken: review.body.reviewToken },
  });
  expect(res.body).toMatchObject({ dryRun: false, results: [] });
});

it('reports a retry that outlasts RETRY_WAIT_SECONDS as restarted and running, found by its retryOf', async () => {
  // A run that fails after 7 s: n8n's retry runs the failed Code node again, for 7 s more.
  const slowFailure = await createCodeWebhookWorkflow(
    n8n,
    'slow-failure',
    "await new Promise((r) => setTimeout(r, 7000));\nthrow new Error('still broken');",
  );
  try {
    await fetch(`${process.env.N8N_URL}/webhook/${slowFailure.path}`, { method: 'POST', body: '{}' });
    let failed: { id: string | number } | undefined;
    for (let i = 0; i < 100 && !failed; i++) {
      failed = (await n8n.listExecutions({ workflowId: slowFailure.id, status: 'error' }))[0];
      if (!failed) await new Promise((r) => setTimeout(r, 200));
    }
    expect(failed).toBeDefined();
    const id = String(failed!.id);
    const started = Date.now();
    const retried = await retryStopped(n8n, { executionId: id, workflowId: slowFailure.id });
    expect(Date.now() - started).toBeLessThan((RETRY_WAIT_SECONDS + 3) * 1000);
    expect(retried).toMatchObject({ status: 'running' });
    expect(String(retried.retryOf)).toBe(id);
    // It goes on in n8n and ends as the Code node says.
    let final = retried;
    for (let i = 0; i < 60 && final.status === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 250));
      final = await n8n.getExecution(String(retried.id));
    }
    expect(final.status).toBe('error');
  } finally {
    await n8n.deactivateWorkflow(slowFailure.id).catch(() => undefined);
    await n8n.deleteWorkflow(slowFailure.id).catch(() => undefined);
  }
});

it('reports a failure per execution (with the reason) instead of failing the whole batch', async () => {
  const ghost = {
    executionId: '999999999',
    workflowId,
    client: 'slow-bakery',
    automation: null,
    startedAt: new Date().toISOString(),
    runningSeconds: 1,
  };
  const results = await restartExecutions(n8n, [ghost]);
  expect(results).toEqual([
    expect.objectContaining({
      executionId: '999999999',
      result: 'failed',
      stage: 'stop',
      stopped: false,
      reason: expect.stringMatching(/n8n/),
    }),
  ]);
});

it('commits the request row before it asks n8n to stop anything', async () => {
  // The bench's n8n, as the API calls it; at each stop, what another connection sees of the audit
  // log (committed rows only) and the state of the execution in n8n.
  const observed = n8nFromBench();
  const stop = observed.stopExecution.bind(observed);
  const after = await lastAuditId();
  const seen: { id: string; status: string; rows: unknown[] }[] = [];
  observed.stopExecution = async (id: string) => {
    const rows = (await restartRows(after)).map((x) => ({ action: x.action, outcome: x.outcome, target_id: x.target_id }));
    seen.push({ id, status: (await n8n.getExecution(id)).status, rows });
    return stop(id);
  };
  const observing = await startTestApi({ db: api.db, n8n: observed, settings: { stuckMinAgeSeconds: 1 } });
  try {
    const stuckId = await startSleepingExecution(1200);
    const review = await observing.call('POST', ROUTE, { body: { client: 'slow-bakery', olderThan: '1s' } });
    expect(review.body.stuck.map((x: { executionId: string }) => x.executionId)).toEqual([stuckId]);
    const run = await observing.call('POST', ROUTE, { body: { dryRun: false, reviewToken: review.body.reviewToken } });
    expect(run.status).toBe(200);
    expect(run.body.results).toEqual([expect.objectContaining({ executionId: stuckId, result: 'restarted' })]);

    expect(seen).toEqual([
      { id: stuckId, status: 'running', rows: [{ action: 'workflows.restart_stuck.request', outcome: 'requested', target_id: stuckId }] },
    ]);
    const rows = await restartRows(after);
    expect(rows.map((x) => [x.action, x.outcome])).toEqual([
      ['workflows.restart_stuck.request', 'requested'],
      ['workflows.restart_stuck', 'success'],
    ]);
    // Both rows name the request (its X-Request-Id): a request row without its outcome is an interrupted restart.
    expect(rows.map((x) => x.request_id)).toEqual([run.headers.get('x-request-id'), run.headers.get('x-request-id')]);
    const newId = run.body.results[0].newExecutionId as string;
    if (run.body.results[0].newExecutionStatus === 'running') await n8n.stopExecution(newId); // see the first test
  } finally {
    await observing.close();
  }
});

it('stops nothing and answers 503 when the audit log refuses the request row', async () => {
  const stuckId = await startSleepingExecution(1200);
  try {
    const review = await api.call('POST', ROUTE, { body: { client: 'slow-bakery', olderThan: '1s' } });
    expect(review.body.stuck.map((x: { executionId: string }) => x.executionId)).toEqual([stuckId]);
    const body = { dryRun: false, reviewToken: review.body.reviewToken };
    const after = await lastAuditId();

    // The API's role may no longer append to the audit log (as a database refusing writes would).
    await api.pool.query('REVOKE INSERT ON audit_logs FROM ct_app');
    let refused;
    try {
      refused = await api.call('POST', ROUTE, { body });
    } finally {
      await api.pool.query('GRANT INSERT ON audit_logs TO ct_app');
    }
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({
      error: 'audit_unavailable',
      message: expect.stringMatching(/could not record this restart, so no execution was stopped or retried/),
    });
    expect(refused.headers.get('retry-after')).toBe('5');
    expect((await n8n.getExecution(stuckId)).status).toBe('running');
    expect(await retriesOf(stuckId)).toEqual([]);
    expect(await restartRows(after)).toEqual([]);
    expect(await api.scrape()).toMatch(/ct_quick_actions_total\{action="restart_stuck",outcome="unavailable"\} 1/);

    // Once the audit log takes rows again, the same review restarts it, recorded before and after.
    const run = await api.call('POST', ROUTE, { body });
    expect(run.status).toBe(200);
    expect(run.body.results).toEqual([expect.objectContaining({ executionId: stuckId, result: 'restarted' })]);
    expect((await restartRows(after)).map((x) => x.outcome)).toEqual(['requested', 'success']);
    expect((await verifyAuditChain(api.pool)).ok).toBe(true);
    for (const retry of await retriesOf(stuckId)) if (retry.status === 'running') await n8n.stopExecution(String(retry.id));
  } finally {
    if ((await n8n.getExecution(stuckId)).status === 'running') await n8n.stopExecution(stuckId);
  }
});
