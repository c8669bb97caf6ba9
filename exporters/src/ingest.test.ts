import type { ExecutionStatus, N8nExecution, N8nWorkflow } from '@ct/lib';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db';
import { ingestExecutions, isWebhookTriggered, type ExecutionSource } from './ingest';

/**
 * A scripted n8n that lists executions the way n8n 2.8's public API does: newest first, and
 * without the ones running in its process unless status=running is asked for.
 */
class ScriptedN8n implements ExecutionSource {
  workflowList: N8nWorkflow[] = [];
  executionsById = new Map<number, N8nExecution>();
  /** Running in n8n's process: left out of the unfiltered list. */
  active = new Set<number>();
  /** Running but started after the status=running list was taken (the race ingestion must survive). */
  hiddenFromRunningList = new Set<number>();
  beforeList: (() => Promise<void>) | null = null;

  add(id: number, workflowId: string, status: ExecutionStatus, stoppedAt: string | null = '2026-11-20T10:00:00Z'): void {
    this.executionsById.set(id, {
      id: String(id),
      workflowId,
      status,
      startedAt: '2026-11-20T09:59:00Z',
      stoppedAt: status === 'running' || status === 'waiting' || status === 'new' ? null : stoppedAt,
    });
    if (status === 'running') this.active.add(id);
    else this.active.delete(id);
  }

  finish(id: number, status: ExecutionStatus): void {
    const e = this.executionsById.get(id)!;
    this.add(id, e.workflowId, status);
  }

  async *workflows(): AsyncGenerator<N8nWorkflow> {
    yield* this.workflowList;
  }

  async *executions(filter: { status?: ExecutionStatus } = {}): AsyncGenerator<N8nExecution> {
    if (this.beforeList) await this.beforeList();
    const all = [...this.executionsById.values()].sort((a, b) => Number(b.id) - Number(a.id));
    for (const e of all) {
      const id = Number(e.id);
      if (filter.status === 'running') {
        if (e.status === 'running' && !this.hiddenFromRunningList.has(id)) yield e;
      } else if (!this.active.has(id)) {
        yield e;
      }
    }
  }
}

let db: TestDatabase;
let clientId: string;
let hvacId: string;

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'ingest' });
  const { rows } = await db.pool.query<{ id: string }>("INSERT INTO clients (slug, name) VALUES ('pizza-shop', 'Pizza Shop') RETURNING id");
  clientId = rows[0]!.id;
  await db.pool.query(
    `INSERT INTO automations (client_id, n8n_workflow_id, name, minutes_saved_per_run, hourly_value_cents, currency)
     VALUES ($1, 'wf-orders', 'Orders', 30, 4000, 'USD'), ($1, 'wf-hook', 'Hook', 6, 3000, 'EUR')`,
    [clientId],
  );
  const hvac = await db.pool.query<{ id: string }>("INSERT INTO clients (slug, name) VALUES ('hvac', 'HVAC') RETURNING id");
  hvacId = hvac.rows[0]!.id;
  await db.pool.query(
    `INSERT INTO automations (client_id, n8n_workflow_id, name, minutes_saved_per_run, hourly_value_cents, currency)
     VALUES ($1, 'wf-hvac-orders', 'Orders', 30, 4000, 'USD'), ($1, 'wf-hvac-hook', 'Hook', 6, 3000, 'EUR')`,
    [hvacId],
  );
});
afterAll(() => db.drop());

async function counts(instance: string): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ k: string; n: string }>(
    `SELECT n8n_workflow_id || ':' || status AS k, executions::text AS n FROM workflow_execution_counts WHERE n8n_instance = $1`,
    [instance],
  );
  return Object.fromEntries(rows.map((r) => [r.k, Number(r.n)]));
}

async function cursor(instance: string): Promise<{ watermark: number; remembered: number }> {
  const { rows } = await db.pool.query<{ w: string; r: string }>(
    `SELECT last_execution_id::text AS w, (SELECT count(*) FROM n8n_ingested_executions WHERE n8n_instance = $1)::text AS r
       FROM workflow_execution_cursor WHERE n8n_instance = $1`,
    [instance],
  );
  return { watermark: Number(rows[0]!.w), remembered: Number(rows[0]!.r) };
}

test('an execution that finishes after higher ids is counted once, and the watermark then moves past it', async () => {
  const n8n = new ScriptedN8n();
  n8n.add(1, 'wf-orders', 'running'); // the long run: lowest id, finishes last
  n8n.add(2, 'wf-orders', 'success');
  n8n.add(3, 'wf-orders', 'success');
  n8n.add(4, 'wf-other', 'error');
  n8n.add(5, 'wf-other', 'waiting');

  const first = await ingestExecutions(db.pool, n8n, 'ooo');
  expect(first).toMatchObject({ ingested: true, counted: 3 });
  expect(first.running).toEqual([{ workflowId: 'wf-orders', startedAt: '2026-11-20T09:59:00Z' }]);
  expect(await counts('ooo')).toEqual({ 'wf-orders:success': 2, 'wf-other:error': 1 });

  // Passes while 1 still runs count nothing again, and the watermark stays below it.
  for (let i = 0; i < 2; i++) expect((await ingestExecutions(db.pool, n8n, 'ooo')).counted).toBe(0);
  expect(await cursor('ooo')).toEqual({ watermark: 0, remembered: 3 });

  n8n.finish(1, 'success');
  n8n.add(6, 'wf-orders', 'canceled');
  expect((await ingestExecutions(db.pool, n8n, 'ooo')).counted).toBe(2);
  expect(await counts('ooo')).toEqual({ 'wf-orders:success': 3, 'wf-orders:canceled': 1, 'wf-other:error': 1 });
  // 5 is still waiting: the watermark stops below it, and forgets what it no longer needs.
  expect(await cursor('ooo')).toEqual({ watermark: 4, remembered: 1 });

  n8n.finish(5, 'crashed');
  expect((await ingestExecutions(db.pool, n8n, 'ooo')).counted).toBe(1);
  await ingestExecutions(db.pool, n8n, 'ooo');
  expect(await cursor('ooo')).toEqual({ watermark: 6, remembered: 0 });
  expect(await counts('ooo')).toEqual({ 'wf-orders:success': 3, 'wf-orders:canceled': 1, 'wf-other:error': 1, 'wf-other:crashed': 1 });
});

test('an execution started during a pass (missing from both lists) is still counted by a later pass', async () => {
  const n8n = new ScriptedN8n();
  n8n.add(10, 'wf-orders', 'success');
  await ingestExecutions(db.pool, n8n, 'race');
  await ingestExecutions(db.pool, n8n, 'race');
  expect((await cursor('race')).watermark).toBe(10);

  // 11 started after the running list was taken and is running, so the unfiltered list leaves
  // it out too; 12 started and finished meanwhile.
  n8n.add(11, 'wf-orders', 'running');
  n8n.hiddenFromRunningList.add(11);
  n8n.add(12, 'wf-orders', 'error');
  expect((await ingestExecutions(db.pool, n8n, 'race')).counted).toBe(1);
  expect((await cursor('race')).watermark).toBeLessThan(11);

  n8n.hiddenFromRunningList.clear();
  n8n.finish(11, 'success');
  expect((await ingestExecutions(db.pool, n8n, 'race')).counted).toBe(1);
  expect(await counts('race')).toEqual({ 'wf-orders:success': 2, 'wf-orders:error': 1 });
});

test('two exporters ingesting at once count each execution once', async () => {
  const n8n = new ScriptedN8n();
  await ingestExecutions(db.pool, n8n, 'pair'); // creates the cursor row
  for (let id = 1; id <= 20; id++) n8n.add(id, 'wf-orders', id % 4 === 0 ? 'error' : 'success');
  n8n.beforeList = () => new Promise((r) => setTimeout(r, 50));
  const results = await Promise.all([ingestExecutions(db.pool, n8n, 'pair'), ingestExecutions(db.pool, n8n, 'pair')]);
  expect(results.map((r) => r.ingested).sort()).toEqual([false, true]);
  // The pass that skipped still returns n8n's live state for the scrape.
  expect(results.every((r) => r.workflows !== undefined)).toBe(true);
  await Promise.all([ingestExecutions(db.pool, n8n, 'pair'), ingestExecutions(db.pool, n8n, 'pair')]);
  expect(await counts('pair')).toEqual({ 'wf-orders:success': 15, 'wf-orders:error': 5 });
});

test('one n8n is never ingested under a second instance name; a moved n8n keeps its cursor', async () => {
  const n8n = new ScriptedN8n();
  for (let id = 1; id <= 3; id++) n8n.add(id, 'wf-orders', 'success');
  await ingestExecutions(db.pool, n8n, 'main-n8n', { n8nUrl: 'http://n8n.internal:5678/' });
  expect(await counts('main-n8n')).toEqual({ 'wf-orders:success': 3 });
  // EXPORTER_N8N_INSTANCE renamed, same n8n: refused, nothing counted again.
  await expect(ingestExecutions(db.pool, n8n, 'renamed', { n8nUrl: 'HTTP://N8N.internal:5678' })).rejects.toThrow(
    'http://n8n.internal:5678 is ingested as n8n instance "main-n8n" already: ingesting it as "renamed" too would count every execution it keeps again; set EXPORTER_N8N_INSTANCE=main-n8n',
  );
  expect(await counts('renamed')).toEqual({});
  // The same instance at a new address follows it; another n8n under its own name is welcome.
  n8n.add(4, 'wf-orders', 'success');
  expect((await ingestExecutions(db.pool, n8n, 'main-n8n', { n8nUrl: 'https://n8n.example.com' })).counted).toBe(1);
  const other = new ScriptedN8n();
  other.add(1, 'wf-other', 'success');
  expect((await ingestExecutions(db.pool, other, 'second-n8n', { n8nUrl: 'http://n8n.internal:5678' })).counted).toBe(1);
  const { rows } = await db.pool.query(
    `SELECT n8n_instance, n8n_url FROM workflow_execution_cursor WHERE n8n_instance IN ('main-n8n', 'second-n8n') ORDER BY 1`,
  );
  expect(rows).toEqual([
    { n8n_instance: 'main-n8n', n8n_url: 'https://n8n.example.com' },
    { n8n_instance: 'second-n8n', n8n_url: 'http://n8n.internal:5678' },
  ]);
});

test('savings, daily stats and webhook failures are accumulated per client with the counts', async () => {
  const n8n = new ScriptedN8n();
  n8n.workflowList = [
    { id: 'wf-hvac-hook', name: 'Hook', active: true, nodes: [{ type: 'n8n-nodes-base.webhook', name: 'Webhook' }] },
    { id: 'wf-hvac-orders', name: 'Orders', active: true, nodes: [{ type: 'n8n-nodes-base.scheduleTrigger', name: 'Every hour' }] },
  ];
  await db.pool.query(`UPDATE clients SET timezone = 'America/New_York' WHERE id = $1`, [hvacId]);
  // 02:30 UTC on October 1st is still September 30th in New York.
  n8n.add(1, 'wf-hvac-orders', 'success', '2026-10-01T02:30:00Z');
  n8n.add(2, 'wf-hvac-orders', 'success', '2026-10-01T02:40:00Z');
  n8n.add(3, 'wf-hvac-orders', 'error', '2026-10-01T02:50:00Z');
  n8n.add(4, 'wf-hvac-hook', 'error', '2026-10-01T12:00:00Z');
  n8n.add(5, 'wf-hvac-hook', 'crashed', '2026-10-01T12:00:00Z');
  n8n.add(6, 'wf-hvac-hook', 'success', '2026-10-01T12:00:00Z');
  await ingestExecutions(db.pool, n8n, 'money');

  const savings = await db.pool.query(
    `SELECT currency, runs::int, minutes_saved::float8 AS minutes, value_cents::float8 AS cents FROM client_savings WHERE client_id = $1 ORDER BY 1`,
    [hvacId],
  );
  // Orders: 2 runs × 30 min = 60 min = 1 h × $40.00 = 4000 cents. Hook: 1 run × 6 min = 0.1 h × €30.00 = 300 cents.
  expect(savings.rows).toEqual([
    { currency: 'EUR', runs: 1, minutes: 6, cents: 300 },
    { currency: 'USD', runs: 2, minutes: 60, cents: 4000 },
  ]);
  // Only the Webhook-triggered workflow's error and crash are failed webhook deliveries.
  const webhook = await db.pool.query(`SELECT failures::int AS n FROM client_webhook_failures WHERE client_id = $1`, [hvacId]);
  expect(webhook.rows).toEqual([{ n: 2 }]);
  const perStatus = await db.pool.query(
    `SELECT status, webhook_executions::int AS n FROM workflow_execution_counts
      WHERE n8n_instance = 'money' AND n8n_workflow_id = 'wf-hvac-hook' ORDER BY 1`,
  );
  expect(perStatus.rows).toEqual([
    { status: 'crashed', n: 1 },
    { status: 'error', n: 1 },
    { status: 'success', n: 1 },
  ]);
  const daily = await db.pool.query(
    `SELECT to_char(day, 'YYYY-MM-DD') AS day, workflow_runs, failures, minutes_saved::float8 AS minutes
       FROM client_daily_stats WHERE client_id = $1 ORDER BY day`,
    [hvacId],
  );
  expect(daily.rows).toEqual([
    { day: '2026-09-30', workflow_runs: 3, failures: 1, minutes: 60 },
    { day: '2026-10-01', workflow_runs: 3, failures: 2, minutes: 6 },
  ]);
});

test('a workflow counts as webhook-triggered only with an enabled Webhook node', () => {
  expect(isWebhookTriggered({ nodes: [{ type: 'n8n-nodes-base.webhook', name: 'W' }] })).toBe(true);
  expect(isWebhookTriggered({ nodes: [{ type: 'n8n-nodes-base.webhook', name: 'W', disabled: true }] })).toBe(false);
  expect(isWebhookTriggered({ nodes: [{ type: 'n8n-nodes-base.manualTrigger', name: 'M' }] })).toBe(false);
  expect(isWebhookTriggered({})).toBe(false);
});

test('an execution id that is not a positive integer is refused with a clear error, counting nothing', async () => {
  const n8n = new ScriptedN8n();
  n8n.add(1, 'wf-orders', 'success');
  n8n.executionsById.set(2, { id: 'abc', workflowId: 'wf-orders', status: 'success', startedAt: null, stoppedAt: null });
  await expect(ingestExecutions(db.pool, n8n, 'bad')).rejects.toThrow('unexpected id "abc"');
  expect(await counts('bad')).toEqual({});
});
