import { execFile } from 'node:child_process';
import { fail, pass, type Outcome } from './types';

/** `npm audit --omit=dev` clean of high and critical advisories. */

export interface CommandOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm audit --omit=dev --json` in `cwd` (the repository); exit code 1 only means findings. */
export function runNpmAudit(cwd: string, timeoutMs = 120_000): Promise<CommandOutput> {
  return new Promise((resolve) => {
    execFile('npm', ['audit', '--omit=dev', '--json'], { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === null ? err.message : '') });
    });
  });
}

interface AuditReport {
  metadata?: { vulnerabilities?: Record<'info' | 'low' | 'moderate' | 'high' | 'critical' | 'total', number> };
  vulnerabilities?: Record<string, { name: string; severity: string; isDirect?: boolean; via?: unknown[]; fixAvailable?: unknown }>;
  error?: { code?: string; summary?: string; detail?: string };
  message?: string;
  statusCode?: number;
}

/** The advisory titles of one finding (via entries that are advisories, not other packages). */
const titles = (via: unknown[] | undefined) =>
  (via ?? [])
    .filter((v): v is { title: string } => typeof v === 'object' && v !== null && typeof (v as { title?: unknown }).title === 'string')
    .map((v) => v.title);

export async function checkNpmAudit(run: () => Promise<CommandOutput>): Promise<Outcome> {
  const out = await run();
  let report: AuditReport;
  try {
    report = JSON.parse(out.stdout) as AuditReport;
  } catch {
    const why = (out.stderr || out.stdout).trim().split('\n').slice(-1)[0] || `exit code ${out.code}`;
    return fail(`npm audit gave no report: ${why}`, 'run npm audit --omit=dev where the registry is reachable and read its error');
  }
  const counts = report.metadata?.vulnerabilities;
  if (!counts) {
    const why = report.error?.summary || report.message || report.error?.code || `exit code ${out.code}`;
    return fail(
      `npm audit could not check the dependencies: ${why}`,
      "run it where the npm registry's audit endpoint is reachable (npm audit --omit=dev); a proxy or mirror must forward POST /-/npm/v1/security/advisories/bulk",
    );
  }
  const serious = Object.values(report.vulnerabilities ?? {}).filter((v) => v.severity === 'high' || v.severity === 'critical');
  if (counts.high + counts.critical > 0) {
    return fail(
      `npm audit --omit=dev: ${counts.critical} critical, ${counts.high} high`,
      'npm audit fix --omit=dev, or upgrade the packages named (npm ls <package> shows who pulls them in); rebuild and redeploy the image',
      serious.map(
        (v) => `${v.name} (${v.severity}${v.isDirect ? ', direct' : ''})${titles(v.via).length ? `: ${titles(v.via).join('; ')}` : ''}`,
      ),
    );
  }
  const minor = counts.moderate + counts.low + counts.info;
  return pass(`npm audit --omit=dev: no high or critical advisory${minor ? ` (${minor} moderate or lower)` : ''}`);
}
