/**
 * The shapes of `ct launch-check`: a check is a small function over injected dependencies that
 * answers pass, warn or fail with the reason and, when it is not a pass, the fix.
 */

export type Status = 'pass' | 'warn' | 'fail' | 'skip';

export const SECTIONS = {
  monitoring: 'Monitoring active',
  backups: 'Backups tested',
  security: 'Security',
  portal: 'Admin portal functional',
  docs: 'Documentation present',
} as const;
export type Section = keyof typeof SECTIONS;

export interface Outcome {
  status: Status;
  /** One line: what was found. */
  reason: string;
  /** What to do about it (fail and warn). */
  fix?: string;
  /** More lines: each target down, each finding, each missing file. */
  details?: string[];
}

export interface Check {
  /** Stable id, e.g. `monitoring.targets` (for --only, --skip and --json). */
  id: string;
  section: Section;
  title: string;
  run(): Promise<Outcome>;
  /** Longest the check may take before it fails as timed out (default 30 s). */
  timeoutMs?: number;
}

export interface CheckResult extends Outcome {
  id: string;
  section: Section;
  title: string;
  seconds: number;
}

export const pass = (reason: string, details?: string[]): Outcome => ({ status: 'pass', reason, details });
export const warn = (reason: string, fix: string, details?: string[]): Outcome => ({ status: 'warn', reason, fix, details });
export const fail = (reason: string, fix: string, details?: string[]): Outcome => ({ status: 'fail', reason, fix, details });
export const skip = (reason: string): Outcome => ({ status: 'skip', reason });

/** Problems found one by one, each with its fix: any failure fails; warnings alone warn; none passes. */
export class Findings {
  readonly problems: string[] = [];
  private readonly warnings: string[] = [];
  private readonly fixes = new Set<string>();
  add(problem: string, fix: string): void {
    this.problems.push(problem);
    this.fixes.add(fix);
  }
  warn(warning: string, fix: string): void {
    this.warnings.push(warning);
    this.fixes.add(fix);
  }
  outcome(passReason: string): Outcome {
    const fixes = [...this.fixes].join('; ');
    const all = [...this.problems, ...this.warnings];
    const make = this.problems.length ? fail : warn;
    if (all.length === 0) return pass(passReason);
    if (all.length === 1) return make(all[0]!, fixes);
    return make(
      `${this.problems.length ? `${this.problems.length} problem(s)` : ''}${this.problems.length && this.warnings.length ? ', ' : ''}${this.warnings.length ? `${this.warnings.length} warning(s)` : ''}`,
      fixes,
      all,
    );
  }
}
