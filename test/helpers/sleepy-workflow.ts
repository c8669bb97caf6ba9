import { randomBytes } from 'node:crypto';
import type { N8nClient } from '@ct/lib';

/**
 * An active n8n workflow whose webhook starts an execution that sleeps two minutes in a Code
 * node: a stuck execution on demand (POST <N8N_URL>/webhook/<path>). Delete it when done.
 */
export async function createSleepyWorkflow(n8n: N8nClient, prefix: string): Promise<{ id: string; path: string }> {
  const path = `${prefix}-${randomBytes(4).toString('hex')}`;
  const wf = await n8n.createWorkflow({
    name: `sleepy-${path}`,
    nodes: [
      {
        id: 'w',
        name: 'Webhook',
        type: 'n8n-nodes-base.webhook',
        typeVersion: 2,
        position: [0, 0],
        parameters: { path, httpMethod: 'POST', responseMode: 'onReceived' },
        webhookId: path,
      },
      {
        id: 's',
        name: 'Sleep',
        type: 'n8n-nodes-base.code',
        typeVersion: 2,
        position: [200, 0],
        parameters: { jsCode: 'await new Promise((r) => setTimeout(r, 120000));\nreturn [{ json: { done: true } }];' },
      },
    ] as never,
    connections: { Webhook: { main: [[{ node: 'Sleep', type: 'main', index: 0 }]] } },
    settings: { executionOrder: 'v1' } as never,
  });
  await n8n.activateWorkflow(wf.id);
  return { id: wf.id, path };
}
