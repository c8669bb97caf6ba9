import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
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

    const run = await (await startN8nBackup({ pool: db.pool, config: cfg, n8n, n8nUrl: n8nService.url, actor: 'test' })).done;
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
    const run = await (await startN8nBackup({ pool: db.pool, config: cfg, n8n, n8nUrl: n8nService.url })).done;
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
    const run = await (await startN8nBackup({ pool: db.pool, config: cfg, n8n, n8nUrl: n8nService.url })).done;
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
});
