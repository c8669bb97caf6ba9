import { randomUUID } from 'node:crypto';
import { errorMessage, type N8nClient, type N8nWorkflow } from '@ct/lib';
import { webhookPath, workflowName, type DemoClient, type DemoRun, type DemoWorkflow } from './data';

/**
 * The demo workflows in n8n: each started by a Webhook node (so its failures count as webhook
 * failures for the client), then a Code node that does the work, or throws when the run is meant
 * to fail. A workflow that `waits` loops through a Wait node until the run's hold ends: n8n keeps
 * a wait under 65 s in process, so the execution stays `running` (stuck) for as long as the hold
 * lasts, without a sleeping Code node holding a task-runner slot and without n8n's task timeout
 * (N8N_RUNNERS_TASK_TIMEOUT, 300 s by default) cutting it short.
 */

type Node = NonNullable<N8nWorkflow['nodes']>[number];
type Definition = Pick<N8nWorkflow, 'name' | 'nodes' | 'connections' | 'settings'>;

const main = (node: string) => [{ node, type: 'main', index: 0 }];

/** The code of the step: it fails when the trigger asked it to, as a broken integration would. */
const STEP_CODE = [
  'const body = $input.first().json.body ?? {};',
  'if (body.fail) throw new Error(String(body.fail));',
  'return [{ json: { ok: true, run: body.run ?? null } }];',
].join('\n');

export function workflowDefinition(client: DemoClient, wf: DemoWorkflow, tag?: string): Definition {
  const path = webhookPath(client, wf, tag);
  const nodes: Node[] = [
    {
      id: randomUUID(),
      name: 'Webhook',
      type: 'n8n-nodes-base.webhook',
      typeVersion: 2,
      position: [0, 0],
      webhookId: randomUUID(),
      parameters: { path, httpMethod: 'POST', responseMode: 'onReceived' },
    },
    {
      id: randomUUID(),
      name: wf.step,
      type: 'n8n-nodes-base.code',
      typeVersion: 2,
      position: [wf.waits ? 660 : 220, 0],
      parameters: { jsCode: STEP_CODE },
    },
  ];
  const connections: Record<string, unknown> = {};
  if (!wf.waits) {
    connections.Webhook = { main: [main(wf.step)] };
  } else {
    const check = 'Done waiting?';
    const hold = '($json.body.holdUntil || 0)';
    nodes.push(
      {
        id: randomUUID(),
        name: wf.waits,
        type: 'n8n-nodes-base.wait',
        typeVersion: 1.1,
        position: [220, 0],
        webhookId: randomUUID(),
        // At most 60 s at a time: longer waits would park the execution as `waiting`, not running.
        parameters: {
          resume: 'timeInterval',
          unit: 'seconds',
          amount: `={{ Math.min(60, Math.max(1, Math.ceil((${hold} - Date.now()) / 1000))) }}`,
        },
      },
      {
        id: randomUUID(),
        name: check,
        type: 'n8n-nodes-base.if',
        typeVersion: 1,
        position: [440, 0],
        parameters: { conditions: { boolean: [{ value1: `={{ Date.now() >= ${hold} }}`, value2: true }] } },
      },
    );
    connections.Webhook = { main: [main(wf.waits)] };
    connections[wf.waits] = { main: [main(check)] };
    connections[check] = { main: [main(wf.step), main(wf.waits)] };
  }
  return { name: workflowName(client, wf, tag), nodes, connections, settings: { executionOrder: 'v1' } };
}

export interface ImportedWorkflow {
  id: string;
  name: string;
  client: string;
  webhookPath: string;
  /** True when a workflow of that name was in n8n already (it was updated, not duplicated). */
  reused: boolean;
}

/**
 * Creates the workflow, or updates the one n8n already has under that name (names stay unique:
 * a second seed against the same n8n reuses its workflows instead of duplicating them).
 */
export async function importWorkflow(
  n8n: N8nClient,
  existing: Map<string, N8nWorkflow>,
  client: DemoClient,
  wf: DemoWorkflow,
  tag?: string,
): Promise<ImportedWorkflow> {
  const def = workflowDefinition(client, wf, tag);
  const found = existing.get(def.name);
  const saved = found ? await n8n.updateWorkflow(String(found.id), def) : await n8n.createWorkflow(def);
  return { id: String(saved.id), name: def.name, client: client.slug, webhookPath: webhookPath(client, wf, tag), reused: !!found };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts one run through the workflow's production webhook URL (the workflow must be active). */
export async function triggerRun(n8nUrl: string, path: string, run: DemoRun, index: number, holdUntil: number): Promise<void> {
  const body = JSON.stringify({
    demo: true,
    run: index + 1,
    ...(run.outcome === 'error' ? { fail: run.message } : {}),
    ...(run.outcome === 'hold' ? { holdUntil } : {}),
  });
  const url = `${n8nUrl.replace(/\/+$/, '')}/webhook/${path}`;
  let last = '';
  // A webhook just activated can take a moment to be registered: 404 is retried briefly.
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      await res.arrayBuffer();
      if (res.ok) return;
      last = `answered ${res.status}`;
      if (res.status !== 404 && res.status < 500) break;
    } catch (err) {
      last = errorMessage(err);
    }
    await sleep(250 * (attempt + 1));
  }
  throw new Error(`n8n webhook /webhook/${path} ${last}`);
}

export interface ExecutionTally {
  success: string[];
  error: string[];
  running: string[];
  other: string[];
}

/** The execution ids n8n holds for a workflow, finished and running. */
export async function executionIds(n8n: N8nClient, workflowId: string): Promise<Set<string>> {
  const finished = await n8n.listExecutions({ workflowId });
  const running = await n8n.listExecutions({ workflowId, status: 'running' });
  return new Set([...finished, ...running].map((e) => String(e.id)));
}

/**
 * Waits until n8n reports every run started since `before` as finished, except the held ones,
 * which must be listed as running. Returns the new executions by status.
 */
export async function waitForRuns(
  n8n: N8nClient,
  plan: { workflowId: string; name: string; before: Set<string>; finishing: number; holding: number }[],
  timeoutMs = 120_000,
): Promise<ExecutionTally> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tally: ExecutionTally = { success: [], error: [], running: [], other: [] };
    const missing: string[] = [];
    for (const p of plan) {
      // n8n lists an execution still running in its process only when asked for status=running.
      const isNew = (e: { id: unknown }) => !p.before.has(String(e.id));
      const finished = (await n8n.listExecutions({ workflowId: p.workflowId })).filter(isNew);
      const running = (await n8n.listExecutions({ workflowId: p.workflowId, status: 'running' })).filter(isNew);
      for (const e of finished) (e.status === 'success' || e.status === 'error' ? tally[e.status] : tally.other).push(String(e.id));
      tally.running.push(...running.map((e) => String(e.id)));
      if (finished.length < p.finishing || running.length < p.holding) {
        missing.push(`${p.name}: ${finished.length}/${p.finishing} finished, ${running.length}/${p.holding} running`);
      }
    }
    if (missing.length === 0) return tally;
    if (Date.now() > deadline) throw new Error(`n8n did not report the demo executions in time: ${missing.join('; ')}`);
    await sleep(500);
  }
}

/**
 * Removes demo workflows from n8n: stops their running executions (the session route on n8n
 * 2.8, so N8N_OWNER_EMAIL/PASSWORD), deactivates and deletes them. For tests and for an operator
 * cleaning a shared n8n; errors on one workflow do not stop the others and are returned.
 */
export async function removeDemoWorkflows(n8n: N8nClient, workflowIds: string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const id of workflowIds) {
    try {
      for (const e of await n8n.listExecutions({ workflowId: id, status: 'running' })) await n8n.stopExecution(String(e.id));
      await n8n.deactivateWorkflow(id).catch(() => undefined);
      await n8n.deleteWorkflow(id);
    } catch (err) {
      problems.push(`${id}: ${errorMessage(err)}`);
    }
  }
  return problems;
}
