import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { N8nClient } from '@ct/lib';
import { startN8n, type N8nService } from '../bench/services';
import { backupCliEnv } from '../helpers/backup';
import { runCt } from '../helpers/cli';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

/**
 * `ct backup restore-n8n`, as docs/emergency.md has the operator run it after losing n8n: on an n8n
 * of its own (so no other suite's workflows are touched), an export made with `ct backup run --kind
 * n8n`, the workflows deleted, then restored by name, the active one active again; a second run
 * skips what is there.
 */
let dir: string;
let n8n: N8nService;
let db: TestDatabase;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-restore-n8n-'));
  [n8n, db] = await Promise.all([startN8n(dir, { name: 'n8n-restore', mode: 'regular' }), createTestDatabase({ prefix: 'restore_n8n' })]);
  env = backupCliEnv(db.url, { N8N_URL: n8n.url, N8N_API_KEY: n8n.apiKey });
}, 120_000);
afterAll(async () => {
  await n8n?.stop();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

it('restores deleted workflows by name, re-activates the active one, and skips them the second time', async () => {
  const client = new N8nClient({ url: n8n.url, apiKey: n8n.apiKey, timeoutSeconds: 30 });
  const webhook = await client.createWorkflow({
    name: 'Pizza shop: new order',
    nodes: [
      {
        id: 'a1',
        name: 'Webhook',
        type: 'n8n-nodes-base.webhook',
        typeVersion: 2,
        position: [0, 0],
        parameters: { path: 'restore-n8n-test', httpMethod: 'POST' },
        webhookId: '3f5c2a9e-4b1d-4c8e-9a77-2d1e0c6b5a10',
      },
    ],
    connections: {},
    settings: {},
  });
  await client.activateWorkflow(webhook.id);
  const manual = await client.createWorkflow({
    name: 'Plumber: weekly report',
    nodes: [{ id: 'b1', name: 'Start', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} }],
    connections: {},
    settings: {},
  });

  const exported = await runCt(['backup', 'run', '--kind', 'n8n'], { env, timeoutMs: 60_000 });
  expect(exported.stderr).toBe('');
  expect(exported.stdout).toMatch(/^n8n succeeded · .* 2 workflows\n$/);
  await client.deactivateWorkflow(webhook.id);
  await client.deleteWorkflow(webhook.id);
  await client.deleteWorkflow(manual.id);

  const restored = await runCt(['backup', 'restore-n8n', 'latest'], { env, timeoutMs: 60_000 });
  expect(restored.stderr).toBe('');
  expect(restored.stdout).toMatch(/^restored n8n workflows from .*\.enc: 2 created, 0 updated, 0 skipped, 1 activated again\n$/);
  const now = await client.listWorkflows();
  expect(now.map((w) => [w.name, w.active]).sort()).toEqual([
    ['Pizza shop: new order', true],
    ['Plumber: weekly report', false],
  ]);

  const again = await runCt(['backup', 'restore-n8n', 'latest'], { env, timeoutMs: 60_000 });
  expect(again.stdout).toMatch(/: 0 created, 0 updated, 2 skipped \(already there; --overwrite replaces them\), 0 activated again\n$/);
  const audit = await db.pool.query(
    "SELECT outcome, details->>'created' AS created FROM audit_logs WHERE action = 'backup.restore_n8n' ORDER BY id",
  );
  expect(audit.rows).toEqual([
    { outcome: 'success', created: '2' },
    { outcome: 'success', created: '0' },
  ]);
}, 180_000);
