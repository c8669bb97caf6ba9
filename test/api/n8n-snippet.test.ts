import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { N8nWorkflow } from '@ct/lib';
import { CRYPTO_CREDENTIAL_TYPE, fillReportWorkflow, REPORT_WORKFLOW_TEMPLATE } from '../../cli/src/onboard/workflow';
import { n8nFromBench, startTestApi, type TestApi } from './harness';

/**
 * The workflow snippet in docs/n8n/ is imported into the bench's real n8n with the client's webhook
 * secret in an n8n Crypto credential, triggered through its production webhook URL, and the event
 * it signs and posts must be stored by the API. The secret is in no part of the workflow n8n
 * holds or exports.
 */
const SNIPPET = path.resolve(__dirname, '..', '..', 'docs', 'n8n', 'report-event-workflow.json');
const n8n = n8nFromBench();
const n8nUrl = process.env.N8N_URL!;
let api: TestApi;
const made: { workflows: string[] } = { workflows: [] };

beforeAll(async () => {
  api = await startTestApi();
}, 60_000);

afterAll(async () => {
  for (const id of made.workflows) await n8n.deleteWorkflow(id).catch(() => undefined);
  await api?.close();
}, 60_000);

it('the snippet holds no secret and needs no built-in module', () => {
  expect(SNIPPET).toBe(REPORT_WORKFLOW_TEMPLATE);
  const text = readFileSync(SNIPPET, 'utf8');
  expect(text).not.toMatch(/whsec_|SECRET|require\(/);
  const wf = JSON.parse(text) as N8nWorkflow;
  const sign = wf.nodes!.find((n) => n.type === 'n8n-nodes-base.crypto')!;
  expect(sign).toMatchObject({ typeVersion: 2, parameters: { action: 'hmac', type: 'SHA256', encoding: 'hex' } });
  expect(Object.keys(sign.credentials as object)).toEqual([CRYPTO_CREDENTIAL_TYPE]);
});

it('signs with the secret from an n8n credential an event the API verifies and stores; the workflow never contains the secret', async () => {
  const slug = `snippet-${randomBytes(3).toString('hex')}`;
  const created = await api.call('POST', '/api/clients', { body: { slug, name: 'Snippet Pizza' } });
  expect(created.status).toBe(201);
  const secret: string = created.body.webhookSecret;
  // What an operator does: a Crypto credential holding the secret, then the workflow set up for the client.
  const credential = await n8n.createCredential({
    name: `CT webhook secret — ${slug}`,
    type: CRYPTO_CREDENTIAL_TYPE,
    data: { hmacSecret: secret },
  });
  const webhookPath = `ct-report-${slug}-${randomBytes(6).toString('hex')}`;
  const wf = fillReportWorkflow({ apiUrl: api.url, slug, eventType: 'lead.captured', credential, webhookPath });
  const imported = await n8n.createWorkflow({ name: wf.name, nodes: wf.nodes, connections: wf.connections, settings: wf.settings });
  made.workflows.push(imported.id);
  await n8n.activateWorkflow(imported.id);

  const res = await fetch(`${n8nUrl}/webhook/${webhookPath}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Ada', phone: '+1 555 0100' }),
  });
  const text = await res.text();
  expect(res.status).toBe(200);
  expect(JSON.parse(text)).toMatchObject({ status: 'stored' });

  const { rows } = await api.pool.query('SELECT kind, details, idempotency_key FROM activity_events');
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ kind: 'lead.captured', details: { name: 'Ada', phone: '+1 555 0100' } });
  const client = await api.call('GET', `/api/clients/${slug}`);
  expect(client.body.lastActivityAt).toBeTruthy();

  // The workflow as n8n exports it (the public API's full workflow: nodes, parameters, credential references).
  const exported = JSON.stringify(await n8n.getWorkflow(imported.id));
  expect(exported).toContain(credential.id);
  expect(exported).not.toContain(secret);
  expect(exported).not.toContain(secret.slice('whsec_'.length));
  // Nor does the execution's data (what n8n keeps of each run).
  const executions = await n8n.listExecutions({ workflowId: imported.id });
  expect(executions.length).toBeGreaterThan(0);
  const run = JSON.stringify(await n8n.getExecution(executions[0]!.id, true));
  expect(run).toContain('"signature"');
  expect(run).not.toContain(secret.slice('whsec_'.length));
}, 60_000);
