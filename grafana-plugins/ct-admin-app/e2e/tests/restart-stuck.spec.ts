import { randomBytes } from 'node:crypto';
import { apiCall, choose, createClient, expect, pick, sql, test, uniq } from '../fixtures';

const n8nUrl = () => process.env.N8N_URL!;
async function n8n<T = any>(method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(`${n8nUrl()}/api/v1${p}`, {
    method,
    headers: { 'X-N8N-API-KEY': process.env.N8N_API_KEY!, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 300) {
    throw new Error(`n8n ${method} ${p}: ${res.status} ${text}`);
  }
  return JSON.parse(text) as T;
}

test('Restart stuck workflows: a sleeping execution in the real n8n is listed, stopped and retried', async ({
  page,
  app,
}) => {
  test.setTimeout(240_000); // the execution must run for a minute before it counts as stuck
  const hook = `admin-app-${randomBytes(4).toString('hex')}`;
  const wf = await n8n<{ id: string }>('POST', '/workflows', {
    name: `browser-suite ${hook}`,
    nodes: [
      {
        id: 'w',
        name: 'Webhook',
        type: 'n8n-nodes-base.webhook',
        typeVersion: 2,
        position: [0, 0],
        parameters: { path: hook, httpMethod: 'POST', responseMode: 'onReceived' },
        webhookId: hook,
      },
      {
        id: 's',
        name: 'Sleep',
        type: 'n8n-nodes-base.code',
        typeVersion: 2,
        position: [200, 0],
        parameters: { jsCode: 'await new Promise((r) => setTimeout(r, 120000));\nreturn [{ json: { done: true } }];' },
      },
    ],
    connections: { Webhook: { main: [[{ node: 'Sleep', type: 'main', index: 0 }]] } },
    settings: { executionOrder: 'v1' },
  });
  try {
    await n8n('POST', `/workflows/${wf.id}/activate`);
    const c = await createClient(uniq('stuck'), 'Stuck Pizza');
    const mapped = await apiCall('POST', '/api/automations', {
      client: c.slug,
      n8nWorkflowId: wf.id,
      name: 'Order intake',
      minutesSavedPerRun: 3,
      hourlyValueCents: 2000,
    });
    expect(mapped.status, mapped.text).toBe(201);
    const trigger = async () =>
      (
        await fetch(`${n8nUrl()}/webhook/${hook}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"order":1}',
        })
      ).status;
    expect(await trigger()).toBe(200);
    let executionId = '';
    await expect
      .poll(async () => {
        const r = await n8n<{ data: Array<{ id: string }> }>('GET', `/executions?status=running&workflowId=${wf.id}`);
        executionId = r.data[0] ? String(r.data[0].id) : '';
        return executionId;
      })
      .not.toBe('');
    // Stuck means older than the minimum the API accepts (API_STUCK_MIN_AGE, 1m in this stack).
    await page.waitForTimeout(62_000);

    await app.goto('/a/ct-admin-app/actions/restart-stuck');
    await pick(page, 'restart-client', new RegExp(c.slug));
    await choose(page, 'Other');
    await page.getByLabel('Threshold').fill('1m');
    await page.getByRole('button', { name: 'List stuck executions' }).click();
    const row = page.getByTestId(`data-testid restart-row-${executionId}`);
    await expect(row).toContainText('Order intake');
    await app.shot('restart-stuck-list');
    await page.getByTestId('data-testid restart-submit').click();
    await expect(page.getByTestId('data-testid confirm-modal')).toContainText(`Executions: ${executionId}.`);
    // Started after the list was made: the restart leaves it alone (it acts on what was reviewed).
    expect(await trigger()).toBe(200);
    await page.getByRole('button', { name: 'Stop and retry' }).click();

    const results = page.getByTestId('data-testid restart-results');
    await expect(results).toHaveAttribute('data-outcome', 'success', { timeout: 60_000 });
    await expect(results).toContainText('1 of 1 restarted');
    await expect(page.getByTestId('data-testid restart-warning')).toContainText('ran no node again');
    await app.shot('restart-stuck-results');

    // n8n: the stuck execution was stopped, and a retry of it exists.
    const old = await n8n<{ status: string; retrySuccessId?: string | null }>('GET', `/executions/${executionId}`);
    expect(old.status).toBe('canceled');
    const all = await n8n<{ data: Array<{ id: string; retryOf?: string | null; mode: string }> }>(
      'GET',
      `/executions?workflowId=${wf.id}&limit=20`
    );
    expect(all.data.some((e) => String(e.retryOf) === executionId && e.mode === 'retry')).toBe(true);
    const audit = await sql(
      `SELECT actor, outcome FROM audit_logs WHERE action = 'workflows.restart_stuck' AND client_id = $1`,
      [c.id]
    );
    expect(audit).toEqual([{ actor: 'grafana:admin', outcome: 'success' }]);
    const stillRunning = await n8n<{ data: Array<{ id: string }> }>(
      'GET',
      `/executions?status=running&workflowId=${wf.id}`
    );
    expect(stillRunning.data.map((e) => String(e.id))).not.toContain(executionId);
    expect(stillRunning.data.length).toBeGreaterThanOrEqual(1);
  } finally {
    const running = await n8n<{ data: Array<{ id: string }> }>(
      'GET',
      `/executions?status=running&workflowId=${wf.id}`
    ).catch(() => ({ data: [] }));
    for (const e of running.data) {
      await fetch(`${n8nUrl()}/api/v1/executions/${e.id}`, {
        method: 'DELETE',
        headers: { 'X-N8N-API-KEY': process.env.N8N_API_KEY! },
      }).catch(() => undefined);
    }
    await n8n('POST', `/workflows/${wf.id}/deactivate`).catch(() => undefined);
    await n8n('DELETE', `/workflows/${wf.id}`).catch(() => undefined);
  }
});
