import { randomBytes } from 'node:crypto';
import type { N8nClient } from '@ct/lib';

/**
 * An active n8n workflow: a webhook (POST <N8N_URL>/webhook/<path>) followed by one Code node
 * running `jsCode`. Delete it when done.
 */
export async function createCodeWebhookWorkflow(n8n: N8nClient, name: string, jsCode: string): Promise<{ id: string; path: string }> {
  const path = `${name}-${randomBytes(4).toString('hex')}`;
  const wf = await n8n.createWorkflow({
    name: path,
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
        name: 'Code',
        type: 'n8n-nodes-base.code',
        typeVersion: 2,
        position: [200, 0],
        parameters: { jsCode },
      },
    ] as never,
    connections: { Webhook: { main: [[{ node: 'Code', type: 'main', index: 0 }]] } },
    settings: { executionOrder: 'v1' } as never,
  });
  await n8n.activateWorkflow(wf.id);
  return { id: wf.id, path };
}

/** A stuck execution on demand: its webhook starts an execution that sleeps two minutes. */
export function createSleepyWorkflow(n8n: N8nClient, prefix: string): Promise<{ id: string; path: string }> {
  return createCodeWebhookWorkflow(
    n8n,
    `sleepy-${prefix}`,
    'await new Promise((r) => setTimeout(r, 120000));\nreturn [{ json: { done: true } }];',
  );
}
