import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { N8nClient } from '@ct/lib';
import { backupConfig, bucketOf } from '../../test/helpers/backup';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db';
import { startN8n, type N8nService } from '../../test/bench/services';
import { keyringFrom } from './envelope';
import { manifestKeyOf, signManifest, type Manifest } from './manifest';
import { restoreN8n, startN8nBackup, type WorkflowExport } from './n8n';
import { readVerified } from './restore';
import { getJson, objectKeyFor, putJson, type Bucket } from './storage';

const workflow = (name: string, note: string) => ({
  name,
  nodes: [
    { id: 'a1', name: 'Start', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} },
    {
      id: 'a2',
      name: 'Note',
      type: 'n8n-nodes-base.noOp',
      typeVersion: 1,
      position: [220, 0],
      parameters: {},
      notes: note,
    },
  ],
  connections: { Start: { main: [[{ node: 'Note', type: 'main', index: 0 }]] } },
  settings: { executionOrder: 'v1' },
});

/** A workflow n8n can activate: started by a Webhook (unique path) or a Schedule trigger. */
const triggered = (name: string, trigger: 'webhook' | 'schedule', webhookPath = '') => ({
  name,
  nodes: [
    trigger === 'webhook'
      ? {
          id: 'b1',
          name: 'Hook',
          type: 'n8n-nodes-base.webhook',
          typeVersion: 2,
          position: [0, 0],
          webhookId: randomUUID(),
          parameters: { path: webhookPath, httpMethod: 'POST', responseMode: 'onReceived' },
        }
      : {
          id: 'b1',
          name: 'Hook',
          type: 'n8n-nodes-base.scheduleTrigger',
          typeVersion: 1.2,
          position: [0, 0],
          parameters: { rule: { interval: [{ field: 'hours', hoursInterval: 24 }] } },
        },
    { id: 'b2', name: 'Note', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [220, 0], parameters: {} },
  ],
  connections: { Hook: { main: [[{ node: 'Note', type: 'main', index: 0 }]] } },
  settings: { executionOrder: 'v1' },
});

describe('n8n workflow export and re-import (a private n8n)', () => {
  let dir: string;
  let n8nService: N8nService;
  let n8n: N8nClient;
  let db: TestDatabase;
  let cfg: ReturnType<typeof backupConfig>;
  let bucket: Bucket;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-backup-n8n-'));
    n8nService = await startN8n(dir, { name: 'n8n-backup' });
    n8n = new N8nClient({ url: n8nService.url, apiKey: n8nService.apiKey });
    db = await createTestDatabase({ prefix: 'n8nbackup' });
    cfg = backupConfig(db.url);
    bucket = bucketOf(cfg);
  }, 180_000);
  afterAll(async () => {
    await db?.drop();
    await n8nService?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const names = async () => (await n8n.listWorkflows()).map((w) => w.name).sort();

  it('exports every workflow encrypted, and re-imports them skipping or overwriting existing ones', async () => {
    const a = await n8n.createWorkflow(workflow('Pizza shop: new order', 'original A'));
    await n8n.createWorkflow(workflow('Plumber: missed call', 'original B'));

    const run = await (await startN8nBackup({ pool: db.appPool, config: cfg, n8n, n8nUrl: n8nService.url, actor: 'test' })).done;
    expect(run).toMatchObject({ status: 'succeeded', error: null, details: { workflows: 2 } });
    expect(run.objectKey).toMatch(/n8n\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{6}Z\.workflows\.json\.enc$/);
    const manifest = await getJson<Manifest>(bucket, manifestKeyOf(run.objectKey!));
    expect(manifest).toMatchObject({ kind: 'n8n', n8n: { workflows: 2 }, encryption: { keyId: 'k1' } });
    // Encrypted at rest: the workflow names are not readable in the object.
    const raw = await bucket.s3.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: run.objectKey! }));
    expect(Buffer.from(await raw.Body!.transformToByteArray()).toString('latin1')).not.toContain('Pizza shop');

    // Everything is there already: nothing to do.
    expect(await restoreN8n({ bucket, keyring: keyringFrom(cfg), ref: 'latest', n8n })).toMatchObject({
      created: [],
      updated: [],
      skipped: ['Pizza shop: new order', 'Plumber: missed call'],
    });

    // One lost, one edited: the lost one comes back, the edited one is left alone...
    await n8n.deleteWorkflow(a.id);
    const b = (await n8n.listWorkflows()).find((w) => w.name === 'Plumber: missed call')!;
    await n8n.updateWorkflow(b.id, workflow('Plumber: missed call', 'edited B'));
    const r1 = await restoreN8n({ bucket, keyring: keyringFrom(cfg), ref: run.id, n8n });
    expect(r1).toMatchObject({ created: ['Pizza shop: new order'], skipped: ['Plumber: missed call'] });
    expect(await names()).toEqual(['Pizza shop: new order', 'Plumber: missed call']);
    const noteOf = async (name: string) => {
      const w = (await n8n.listWorkflows()).find((x) => x.name === name)!;
      return (await n8n.getWorkflow(w.id)).nodes!.find((n) => n.name === 'Note')!.notes;
    };
    expect(await noteOf('Pizza shop: new order')).toBe('original A');
    expect(await noteOf('Plumber: missed call')).toBe('edited B');

    // ...unless --overwrite.
    const r2 = await restoreN8n({ bucket, keyring: keyringFrom(cfg), ref: 'latest', n8n, overwrite: true });
    expect(r2.updated.sort()).toEqual(['Pizza shop: new order', 'Plumber: missed call']);
    expect(await noteOf('Plumber: missed call')).toBe('original B');
    expect(await names()).toEqual(['Pizza shop: new order', 'Plumber: missed call']);
  });

  it('refuses a tampered export before touching n8n', async () => {
    const run = await (await startN8nBackup({ pool: db.appPool, config: cfg, n8n, n8nUrl: n8nService.url })).done;
    const res = await bucket.s3.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: run.objectKey! }));
    const bytes = Buffer.from(await res.Body!.transformToByteArray());
    bytes[bytes.length - 30]! ^= 0x04;
    const at = new Date(Date.UTC(2020, 0, 1));
    const key = objectKeyFor(bucket, 'n8n', at);
    await bucket.s3.send(new PutObjectCommand({ Bucket: bucket.bucket, Key: key, Body: bytes }));
    const manifest = await getJson<Manifest>(bucket, manifestKeyOf(run.objectKey!));
    // Re-authenticated for the planted object (as if its MAC had been forged): the chunk tags still catch it.
    const { auth: _auth, format: _format, ...fields } = manifest;
    await putJson(bucket, manifestKeyOf(key), signManifest({ ...fields, objectKey: key, createdAt: at.toISOString() }, keyringFrom(cfg)));
    for (const w of await n8n.listWorkflows()) await n8n.deleteWorkflow(w.id);
    await expect(restoreN8n({ bucket, keyring: keyringFrom(cfg), ref: key, n8n })).rejects.toThrow(/failed authentication/);
    expect(await names()).toEqual([]);
    // The untampered export is intact and complete.
    const doc = JSON.parse(
      (await readVerified(bucket, keyringFrom(cfg), { key: run.objectKey!, manifestKey: '', kind: 'n8n' }, manifest)).toString(),
    ) as WorkflowExport;
    expect(doc.workflows.map((w) => w.name).sort()).toEqual(['Pizza shop: new order', 'Plumber: missed call']);
  });

  it('refuses, before any change, a name that more than one workflow has', async () => {
    for (const w of await n8n.listWorkflows()) await n8n.deleteWorkflow(w.id);
    await n8n.createWorkflow(workflow('HVAC: service reminder', 'first'));
    await n8n.createWorkflow(workflow('HVAC: service reminder', 'second'));
    await n8n.createWorkflow(workflow('HVAC: quote request', 'only'));
    const run = await (await startN8nBackup({ pool: db.appPool, config: cfg, n8n, n8nUrl: n8nService.url })).done;
    expect(run.details).toMatchObject({ workflows: 3 });
    const before = JSON.stringify(await n8n.listWorkflows());
    await expect(restoreN8n({ bucket, keyring: keyringFrom(cfg), ref: run.id, n8n, overwrite: true })).rejects.toThrow(
      /^workflows are matched by name, and these names belong to more than one workflow in the export or in n8n: "HVAC: service reminder"; .*Nothing was changed$/,
    );
    expect(JSON.stringify(await n8n.listWorkflows())).toBe(before);
    // Into an n8n without those names there is nothing to match: both are created.
    for (const w of await n8n.listWorkflows()) await n8n.deleteWorkflow(w.id);
    const r = await restoreN8n({ bucket, keyring: keyringFrom(cfg), ref: run.id, n8n });
    expect(r.created).toEqual(['HVAC: quote request', 'HVAC: service reminder', 'HVAC: service reminder']);
    expect(await names()).toEqual(['HVAC: quote request', 'HVAC: service reminder', 'HVAC: service reminder']);
    for (const w of await n8n.listWorkflows()) await n8n.deleteWorkflow(w.id);
  });
  it('restored workflows come back active when they were active (unless reactivate is off)', async () => {
    for (const w of await n8n.listWorkflows()) await n8n.deleteWorkflow(w.id);
    const hookPath = `pizza-order-${randomUUID().slice(0, 8)}`;
    const orders = await n8n.createWorkflow(triggered('Pizza shop: order webhook', 'webhook', hookPath));
    await n8n.activateWorkflow(orders.id);
    const digest = await n8n.createWorkflow(triggered('Plumber: daily digest', 'schedule'));
    await n8n.activateWorkflow(digest.id);
    await n8n.createWorkflow(triggered('HVAC: draft intake', 'webhook', `hvac-draft-${randomUUID().slice(0, 8)}`));
    const run = await (await startN8nBackup({ pool: db.appPool, config: cfg, n8n, n8nUrl: n8nService.url })).done;
    expect(run.status).toBe('succeeded');
    const activeByName = async () =>
      Object.fromEntries(
        await Promise.all((await n8n.listWorkflows()).map(async (w) => [w.name, (await n8n.getWorkflow(w.id)).active] as const)),
      );
    const wipe = async () => {
      for (const w of await n8n.listWorkflows()) await n8n.deleteWorkflow(w.id);
    };
    const expected = { 'Pizza shop: order webhook': true, 'Plumber: daily digest': true, 'HVAC: draft intake': false };

    // Lost, then restored: the two that were active are active again, the draft is not.
    await wipe();
    const r1 = await restoreN8n({ bucket, keyring: keyringFrom(cfg), ref: run.id, n8n });
    expect(r1).toMatchObject({ activated: ['Pizza shop: order webhook', 'Plumber: daily digest'], activationFailed: [] });
    expect(await activeByName()).toEqual(expected);
    // n8n serves the restored webhook again.
    const hook = await fetch(`${n8nService.url}/webhook/${hookPath}`, { method: 'POST', body: '{}' });
    expect(hook.status).toBe(200);

    // Off: everything comes back inactive.
    await wipe();
    const r2 = await restoreN8n({ bucket, keyring: keyringFrom(cfg), ref: run.id, n8n, reactivate: false });
    expect(r2.activated).toEqual([]);
    expect(await activeByName()).toEqual({
      'Pizza shop: order webhook': false,
      'Plumber: daily digest': false,
      'HVAC: draft intake': false,
    });

    // Overwriting those inactive copies activates the ones that were active.
    const r3 = await restoreN8n({ bucket, keyring: keyringFrom(cfg), ref: run.id, n8n, overwrite: true });
    expect(r3).toMatchObject({ updated: Object.keys(expected).sort(), activated: ['Pizza shop: order webhook', 'Plumber: daily digest'] });
    expect(await activeByName()).toEqual(expected);

    // A workflow n8n will not activate (its webhook path taken meanwhile) is reported; the rest goes on.
    await wipe();
    const squatter = await n8n.createWorkflow(triggered('Other: same path', 'webhook', hookPath));
    await n8n.activateWorkflow(squatter.id);
    const r4 = await restoreN8n({ bucket, keyring: keyringFrom(cfg), ref: run.id, n8n });
    expect(r4.created).toEqual(Object.keys(expected).sort());
    expect(r4.activated).toEqual(['Plumber: daily digest']);
    expect(r4.activationFailed).toEqual([{ name: 'Pizza shop: order webhook', error: expect.any(String) }]);
    expect(await activeByName()).toEqual({ ...expected, 'Pizza shop: order webhook': false, 'Other: same path': true });
    await wipe();
  });
});
