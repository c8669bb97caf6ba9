import { signStuckReview } from '@ct/api';
import { JWT_SECRET, n8nFromBench, startTestApi, type TestApi } from '../api/harness';
import { createSleepyWorkflow } from '../helpers/sleepy-workflow';

/**
 * restart-stuck, misused: a threshold so low that healthy runs are "stuck", a real run nobody
 * reviewed (or with a forged, expired or edited review), an execution started after the review,
 * and executions of workflows no client owns. Against the bench's real n8n (shared: this suite
 * never runs a real restart that could reach another suite's executions).
 */
const n8n = n8nFromBench();
const ROUTE = '/api/admin/executions/restart-stuck';
let api: TestApi;
let strict: TestApi;
const workflows: { id: string; path: string }[] = [];

async function sleepyWorkflow(): Promise<{ id: string; path: string }> {
  const wf = await createSleepyWorkflow(n8n, 'stuck-sec');
  workflows.push(wf);
  return wf;
}

/** Triggers a workflow and waits until n8n lists one more running execution of it; that execution's id. */
async function startRun(wf: { id: string; path: string }): Promise<string> {
  const before = new Set((await n8n.listExecutions({ status: 'running', workflowId: wf.id })).map((e) => String(e.id)));
  expect((await fetch(`${process.env.N8N_URL}/webhook/${wf.path}`, { method: 'POST', body: '{}' })).status).toBe(200);
  for (let i = 0; i < 100; i++) {
    const fresh = (await n8n.listExecutions({ status: 'running', workflowId: wf.id }))
      .map((e) => String(e.id))
      .filter((id) => !before.has(id));
    if (fresh.length) return fresh[0]!;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no running execution of ${wf.id}`);
}

let mapped: { id: string; path: string };
let unmapped: { id: string; path: string };

beforeAll(async () => {
  api = await startTestApi({ settings: { stuckMinAgeSeconds: 1 } });
  strict = await startTestApi({ db: api.db }); // the default minimum: 5 minutes
  mapped = await sleepyWorkflow();
  unmapped = await sleepyWorkflow();
  await api.pool.query(`INSERT INTO clients (slug, name) VALUES ('bakery', 'Bakery')`);
  const a = await api.call('POST', '/api/automations', {
    body: { client: 'bakery', n8nWorkflowId: mapped.id, minutesSavedPerRun: 1, hourlyValueCents: 100 },
  });
  expect(a.status).toBe(201);
}, 120_000);

afterAll(async () => {
  for (const wf of workflows) {
    for (const e of await n8n.listExecutions({ status: 'running', workflowId: wf.id }).catch(() => []))
      await n8n.stopExecution(String(e.id)).catch(() => undefined);
    await n8n.deactivateWorkflow(wf.id).catch(() => undefined);
    await n8n.deleteWorkflow(wf.id).catch(() => undefined);
  }
  await strict?.close();
  await api?.close();
}, 120_000);

it('refuses a threshold below the minimum, naming it', async () => {
  for (const olderThan of ['1s', '2m', 299]) {
    const res = await strict.call('POST', ROUTE, { body: { olderThan } });
    expect(res.status).toBe(400);
    expect(res.body.fields).toEqual([
      expect.objectContaining({ field: 'olderThan', message: expect.stringMatching(/at least 300 seconds \(API_STUCK_MIN_AGE\)/) }),
    ]);
  }
  expect((await strict.call('POST', ROUTE, { body: { olderThan: '5m' } })).status).toBe(200);
});

it('refuses a real run without a review, or with a forged, expired, edited or foreign one', async () => {
  const field = async (body: Record<string, unknown>) => {
    const res = await api.call('POST', ROUTE, { body: { dryRun: false, ...body } });
    expect(res.status).toBe(400);
    return res.body.fields[0];
  };
  expect(await field({})).toMatchObject({ field: 'reviewToken', message: expect.stringMatching(/is required when dryRun is false/) });
  const real = (await api.call('POST', ROUTE, { body: { client: 'bakery', olderThan: '1s' } })).body.reviewToken as string;
  const [payload, mac] = real.split('.');
  const edited = JSON.parse(Buffer.from(payload!, 'base64url').toString());
  edited.executionIds = ['1', '2', '3'];
  edited.client = null;
  const forged = `${Buffer.from(JSON.stringify(edited)).toString('base64url')}.${mac}`;
  expect(await field({ reviewToken: forged })).toMatchObject({
    field: 'reviewToken',
    message: expect.stringMatching(/not a review token/),
  });
  const foreign = signStuckReview('another-api-another-secret-0123456789', {
    executionIds: [],
    client: null,
    olderThanSeconds: 1,
    includeUnmapped: true,
  });
  expect(await field({ reviewToken: foreign.token })).toMatchObject({ message: expect.stringMatching(/not a review token/) });
  const expired = signStuckReview(
    JWT_SECRET,
    { executionIds: [], client: 'bakery', olderThanSeconds: 1, includeUnmapped: false },
    Date.now() - 3600_000,
  );
  expect(await field({ reviewToken: expired.token })).toMatchObject({ message: expect.stringMatching(/has expired/) });
  // The review's filters are the run's: asking for more than was reviewed is refused.
  expect(await field({ reviewToken: real, includeUnmapped: true })).toMatchObject({ field: 'includeUnmapped' });
  expect(await field({ reviewToken: real, olderThan: '2s' })).toMatchObject({ field: 'olderThan' });
});

it('acts only on the executions the operator reviewed: one started after the review is left running', async () => {
  const reviewedId = await startRun(mapped);
  await new Promise((r) => setTimeout(r, 1500));
  const review = await api.call('POST', ROUTE, { body: { client: 'bakery', olderThan: '1s' } });
  expect(review.body.stuck.map((x: { executionId: string }) => x.executionId)).toEqual([reviewedId]);

  const lateId = await startRun(mapped); // not in what the operator saw
  await new Promise((r) => setTimeout(r, 1500));
  const run = await api.call('POST', ROUTE, { body: { dryRun: false, reviewToken: review.body.reviewToken } });
  expect(run.status).toBe(200);
  expect(run.body.results.map((x: { executionId: string }) => x.executionId)).toEqual([reviewedId]);
  expect((await n8n.getExecution(lateId)).status).toBe('running');
  expect((await n8n.getExecution(reviewedId)).status).toBe('canceled');
}, 180_000);

it('leaves executions of unmapped workflows alone unless asked, and never with a client', async () => {
  const orphanId = await startRun(unmapped);
  await new Promise((r) => setTimeout(r, 1500));
  const ids = (body: object) =>
    api.call('POST', ROUTE, { body }).then((r) => r.body.stuck.map((x: { executionId: string }) => x.executionId));
  expect(await ids({ olderThan: '1s' })).not.toContain(orphanId);
  expect(await ids({ olderThan: '1s', includeUnmapped: true })).toContain(orphanId);
  const both = await api.call('POST', ROUTE, { body: { client: 'bakery', includeUnmapped: true } });
  expect(both.body.fields[0]).toMatchObject({ field: 'includeUnmapped' });

  // A real run reviewed without includeUnmapped never touches it.
  const review = await api.call('POST', ROUTE, { body: { olderThan: '1s', executionIds: [orphanId] } });
  expect(review.body.stuck).toEqual([]);
  const run = await api.call('POST', ROUTE, { body: { dryRun: false, reviewToken: review.body.reviewToken } });
  expect(run.body.results).toEqual([]);
  expect((await n8n.getExecution(orphanId)).status).toBe('running');
}, 180_000);
