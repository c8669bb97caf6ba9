import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { errorMessage, N8nClient, UserError, type Logger, type N8nWorkflow } from '@ct/lib';
import { chooseKey, discardUploaded, sweepStaleUploads } from './database';
import { keyringFrom, type Keyring } from './envelope';
import { manifestKeyOf, resolveBackup, signManifest, toolVersion } from './manifest';
import { readVerified } from './restore';
import { RunFailure, startRun, type RunnerDeps, type StartedRun } from './runs';
import { createBucket, putJson, storedEtags, type Bucket } from './storage';
import { encryptAndUpload } from './upload';
import type { BackupConfig } from './config';

/** What an n8n export holds: every workflow as the public API returns it. Credentials are not exported. */
export interface WorkflowExport {
  format: 'ct-n8n-workflows/1';
  exportedAt: string;
  n8nUrl: string;
  workflows: N8nWorkflow[];
}

export interface N8nBackupDeps extends RunnerDeps {
  config: BackupConfig;
  n8n: N8nClient;
  n8nUrl: string;
  bucket?: Bucket;
  now?: () => Date;
}

/** Exports all workflows (JSON, encrypted like the database dump) to `n8n/…workflows.json.enc`. */
export function startN8nBackup(deps: N8nBackupDeps): Promise<StartedRun> {
  return startRun(deps, 'n8n', async ({ run }) => {
    const cfg = deps.config;
    const bucket = deps.bucket ?? createBucket(cfg);
    const startedAt = deps.now?.() ?? new Date();
    const t0 = Date.now();
    let workflows: N8nWorkflow[];
    try {
      workflows = await deps.n8n.listWorkflows();
    } catch (err) {
      throw new RunFailure(`reading the workflows from n8n failed: ${errorMessage(err)}`);
    }
    const doc: WorkflowExport = { format: 'ct-n8n-workflows/1', exportedAt: startedAt.toISOString(), n8nUrl: deps.n8nUrl, workflows };
    const plain = Buffer.from(JSON.stringify(doc), 'utf8');
    await sweepStaleUploads(deps, bucket, 'n8n');
    const key = await chooseKey(bucket, 'n8n', startedAt, run.id);
    const keyring = keyringFrom(cfg);
    const uploaded = await encryptAndUpload({
      bucket,
      key,
      keyring,
      config: cfg,
      content: 'n8n workflows, JSON',
      input: Readable.from([plain]),
      log: deps.log,
    });
    const manifest = signManifest(
      {
        kind: 'n8n',
        runId: run.id,
        objectKey: key,
        createdAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        durationSeconds: (Date.now() - t0) / 1000,
        tool: { name: '@ct/backup', version: toolVersion() },
        encryption: { algorithm: 'AES-256-GCM-STREAM', keyId: uploaded.keyId, chunkSize: uploaded.chunkSize },
        compression: { algorithm: 'none' },
        sizes: { plaintextBytes: plain.length, ciphertextBytes: uploaded.ciphertextBytes },
        sha256: { plaintext: createHash('sha256').update(plain).digest('hex'), ciphertext: uploaded.ciphertextSha256 },
        n8n: { url: deps.n8nUrl, workflows: workflows.length },
      },
      keyring,
    );
    try {
      await putJson(bucket, manifestKeyOf(key), manifest);
    } catch (err) {
      throw new RunFailure(`writing the manifest failed: ${errorMessage(err)}${await discardUploaded(bucket, key)}`);
    }
    return {
      bytes: uploaded.ciphertextBytes,
      objectKey: key,
      details: { manifestKey: manifestKeyOf(key), workflows: workflows.length, ...(await storedEtags(bucket, key, manifestKeyOf(key))) },
    };
  });
}

export interface N8nRestoreResult {
  objectKey: string;
  /** False when a legacy, unauthenticated manifest was accepted with allowUnauthenticated. */
  authenticated: boolean;
  created: string[];
  updated: string[];
  skipped: string[];
  /** Created or updated workflows that were active in the export and were activated again. */
  activated: string[];
  /** Workflows that were active in the export but that n8n would not activate (e.g. missing credentials). */
  activationFailed: { name: string; error: string }[];
}

/** The fields n8n's public API accepts when creating or updating a workflow. */
function payloadOf(wf: N8nWorkflow): Pick<N8nWorkflow, 'name' | 'nodes' | 'connections' | 'settings'> {
  const settings = { ...(wf.settings ?? {}) };
  return { name: wf.name, nodes: wf.nodes ?? [], connections: wf.connections ?? {}, settings };
}

/**
 * Re-imports an export into an n8n instance. Workflows are matched by name (ids differ between
 * instances): an existing one is skipped, or replaced with `overwrite`. The object is verified
 * whole before the first call to n8n.
 */
export async function restoreN8n(opts: {
  bucket: Bucket;
  keyring: Keyring;
  ref: string;
  n8n: N8nClient;
  overwrite?: boolean;
  /** Accept a legacy manifest that carries no authentication (refused otherwise). */
  allowUnauthenticated?: boolean;
  /**
   * Activate the created or updated workflows that were active when exported (default true). A
   * workflow n8n refuses to activate is reported in `activationFailed`; the restore goes on.
   */
  reactivate?: boolean;
  maxSkewSeconds?: number;
  log?: Logger;
}): Promise<N8nRestoreResult> {
  const { backup, manifest } = await resolveBackup(opts.bucket, 'n8n', opts.ref, { maxSkewSeconds: opts.maxSkewSeconds, log: opts.log });
  const plain = await readVerified(opts.bucket, opts.keyring, backup, manifest, opts);
  const doc = JSON.parse(plain.toString('utf8')) as WorkflowExport;
  if (doc.format !== 'ct-n8n-workflows/1' || !Array.isArray(doc.workflows))
    throw new UserError(`${backup.key} is not an n8n workflow export`);
  const current = await opts.n8n.listWorkflows();
  // A name that two workflows share, on either side, cannot say which workflow it stands for:
  // two exported ones would land on one existing workflow, or one on either of two. Refused
  // before any change, rather than one of them silently replacing the other.
  const count = (names: string[]) => names.reduce((m, n) => m.set(n, (m.get(n) ?? 0) + 1), new Map<string, number>());
  const inExport = count(doc.workflows.map((w) => w.name));
  const inN8n = count(current.map((w) => w.name));
  const ambiguous = [...inExport.keys()].filter((n) => inN8n.has(n) && (inExport.get(n)! > 1 || inN8n.get(n)! > 1)).sort();
  if (ambiguous.length > 0) {
    throw new UserError(
      `workflows are matched by name, and these names belong to more than one workflow in the export or in n8n: ` +
        `${ambiguous.map((n) => `"${n}"`).join(', ')}; rename them in n8n first. Nothing was changed`,
    );
  }
  const existing = new Map(current.map((w) => [w.name, w]));
  const result: N8nRestoreResult = {
    objectKey: backup.key,
    authenticated: manifest.auth !== undefined,
    created: [],
    updated: [],
    skipped: [],
    activated: [],
    activationFailed: [],
  };
  // Imported first, activated after: a workflow that calls another by id finds it there.
  const toActivate: { name: string; id: string }[] = [];
  for (const wf of doc.workflows) {
    const current = existing.get(wf.name);
    try {
      if (!current) {
        const made = await opts.n8n.createWorkflow(payloadOf(wf));
        result.created.push(wf.name);
        if (wf.active) toActivate.push({ name: wf.name, id: made.id });
      } else if (opts.overwrite) {
        const updated = await opts.n8n.updateWorkflow(current.id, payloadOf(wf));
        result.updated.push(wf.name);
        if (wf.active && !updated.active) toActivate.push({ name: wf.name, id: current.id });
      } else {
        result.skipped.push(wf.name);
      }
    } catch (err) {
      throw new UserError(
        `importing workflow "${wf.name}" failed after ${result.created.length} created and ${result.updated.length} updated: ${errorMessage(err)}`,
      );
    }
  }
  if (opts.reactivate !== false) {
    for (const w of toActivate) {
      try {
        await opts.n8n.activateWorkflow(w.id);
        result.activated.push(w.name);
      } catch (err) {
        result.activationFailed.push({ name: w.name, error: errorMessage(err) });
        opts.log?.warn({ workflow: w.name, err: errorMessage(err) }, 'n8n refused to activate a restored workflow');
      }
    }
  }
  result.created.sort();
  result.updated.sort();
  result.skipped.sort();
  result.activated.sort();
  return result;
}
