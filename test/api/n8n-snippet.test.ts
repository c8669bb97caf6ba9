import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { N8nClient, type N8nWorkflow } from '@ct/lib';
import { startN8n, type N8nService } from '../bench/services';
import { startTestApi, type TestApi } from './harness';

/**
 * The workflow snippet in docs/n8n/ is imported into a real n8n (its own instance, since the
 * Code node needs NODE_FUNCTION_ALLOW_BUILTIN=crypto), triggered through its production webhook
 * URL, and the event it signs and posts must be stored by the API.
 */
const SNIPPET = path.resolve(__dirname, '..', '..', 'docs', 'n8n', 'report-event-workflow.json');
let dir: string;
let n8nService: N8nService;
let api: TestApi;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-api-snippet-'));
  api = await startTestApi();
  n8nService = await startN8n(dir, { extraEnv: { NODE_FUNCTION_ALLOW_BUILTIN: 'crypto' } });
}, 180_000);

afterAll(async () => {
  await api?.close();
  await n8nService?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

it('signs and reports an event that the API verifies and stores', async () => {
  const created = await api.call('POST', '/api/clients', { body: { slug: 'snippet-pizza', name: 'Snippet Pizza' } });
  const secret: string = created.body.webhookSecret;
  const wf = JSON.parse(readFileSync(SNIPPET, 'utf8')) as N8nWorkflow;
  const code = wf.nodes!.find((n) => n.name === 'Build signed event')!;
  // What an operator edits after importing: the three constants.
  code.parameters!.jsCode = String(code.parameters!.jsCode)
    .replace("'https://ct.example.com'", `'${api.url}'`)
    .replace("'pizza-shop'", "'snippet-pizza'")
    .replace("'whsec_replace_me'", `'${secret}'`);
  const n8n = new N8nClient({ url: n8nService.url, apiKey: n8nService.apiKey });
  const imported = await n8n.createWorkflow({ name: wf.name, nodes: wf.nodes, connections: wf.connections, settings: wf.settings });
  await n8n.activateWorkflow(imported.id);

  const res = await fetch(`${n8nService.url}/webhook/ct-report-example`, {
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
  const client = await api.call('GET', '/api/clients/snippet-pizza');
  expect(client.body.lastActivityAt).toBeTruthy();
}, 60_000);
