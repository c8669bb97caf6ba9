import { SECTIONS, type CheckResult, type Section, type Status } from './types';

const MARK: Record<Status, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

/** The lines of one result: `FAIL  id  title: reason`, then its details and `fix:`. */
export function formatResult(r: CheckResult): string {
  const lines = [`${MARK[r.status]}  ${r.title}: ${r.reason}`];
  for (const d of r.details ?? []) lines.push(`        - ${d}`);
  if (r.fix && r.status !== 'pass') lines.push(`        fix: ${r.fix}`);
  return lines.join('\n');
}

/** A section heading, printed before the section's first result. */
export const sectionHeading = (section: Section): string => `\n${SECTIONS[section]}`;

/** Prints results as they come, with a heading per section. */
export function streamingPrinter(write: (s: string) => void): (r: CheckResult) => void {
  let current: Section | undefined;
  return (r) => {
    if (r.section !== current) {
      current = r.section;
      write(`${sectionHeading(r.section)}\n`);
    }
    write(`${formatResult(r)}\n`);
  };
}

export function summaryLine(results: CheckResult[]): string {
  const count = (s: Status) => results.filter((r) => r.status === s).length;
  const failed = count('fail');
  const parts = [`${count('pass')} passed`, `${failed} failed`, `${count('warn')} warning(s)`];
  if (count('skip')) parts.push(`${count('skip')} skipped`);
  return `\n${failed ? 'NOT READY for launch' : 'Ready for launch'}: ${parts.join(', ')}`;
}

/** The machine-readable report of --json. */
export function jsonReport(results: CheckResult[], at: Date): string {
  return JSON.stringify(
    {
      ok: !results.some((r) => r.status === 'fail'),
      at: at.toISOString(),
      summary: Object.fromEntries(
        (['pass', 'warn', 'fail', 'skip'] as const).map((s) => [s, results.filter((r) => r.status === s).length]),
      ),
      checks: results.map((r) => ({
        id: r.id,
        section: r.section,
        title: r.title,
        status: r.status,
        reason: r.reason,
        ...(r.fix && r.status !== 'pass' ? { fix: r.fix } : {}),
        ...(r.details?.length ? { details: r.details } : {}),
        seconds: Math.round(r.seconds * 1000) / 1000,
      })),
    },
    null,
    2,
  );
}
