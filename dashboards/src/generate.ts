import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { provisionedDashboards, renderDashboard } from './index';

/**
 * `npm run dashboards`: writes every file-provisioned dashboard (the admin portal's; the client
 * portal's are posted to each client organisation by org sync) into provisioning/dashboards/<folder>/,
 * and removes JSON files there that no source generates any more. `--check` writes nothing and
 * exits 1 naming each file that differs from its source.
 */

export const PROVISIONING_DASHBOARDS = path.resolve(__dirname, '..', '..', 'provisioning', 'dashboards');

export interface Difference {
  file: string;
  problem: 'missing' | 'differs' | 'stale';
}

/** What is on disk against what the sources generate. */
export function compareWithDisk(root = PROVISIONING_DASHBOARDS): Difference[] {
  const wanted = new Map(provisionedDashboards().map((d) => [d.file, renderDashboard(d.dashboard)]));
  const out: Difference[] = [];
  for (const [file, text] of wanted) {
    let onDisk: string | undefined;
    try {
      onDisk = readFileSync(path.join(root, file), 'utf8');
    } catch {
      onDisk = undefined;
    }
    if (onDisk === undefined) out.push({ file, problem: 'missing' });
    else if (onDisk !== text) out.push({ file, problem: 'differs' });
  }
  for (const file of generatedFilesOnDisk(root)) if (!wanted.has(file)) out.push({ file, problem: 'stale' });
  return out;
}

function generatedFilesOnDisk(root: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const f of readdirSync(path.join(root, entry.name))) if (f.endsWith('.json')) files.push(`${entry.name}/${f}`);
  }
  return files;
}

export function writeDashboards(root = PROVISIONING_DASHBOARDS): string[] {
  const written: string[] = [];
  const dashboards = provisionedDashboards();
  for (const { file, dashboard } of dashboards) {
    const target = path.join(root, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, renderDashboard(dashboard));
    written.push(file);
  }
  for (const d of compareWithDisk(root)) if (d.problem === 'stale') rmSync(path.join(root, d.file));
  return written;
}

if (require.main === module) {
  if (process.argv.includes('--check')) {
    const diffs = compareWithDisk();
    for (const d of diffs) process.stderr.write(`provisioning/dashboards/${d.file}: ${d.problem} (run npm run dashboards)\n`);
    process.exitCode = diffs.length ? 1 : 0;
  } else {
    for (const f of writeDashboards()) process.stdout.write(`wrote provisioning/dashboards/${f}\n`);
  }
}
