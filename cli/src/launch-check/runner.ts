import { errorMessage } from '@ct/lib';
import { fail, type Check, type CheckResult } from './types';

export interface RunOptions {
  /** Only the checks whose id is, or starts with, one of these (a section name selects its checks). */
  only?: string[];
  /** Checks left out, by id or section: reported as skipped. */
  skip?: string[];
  /** Called as each check finishes (the printer streams lines). */
  onResult?: (r: CheckResult) => void;
}

const selects = (id: string, patterns: string[]) => patterns.some((p) => id === p || id.startsWith(`${p}.`));

/**
 * Runs the checks one after another (their order is the checklist's), each bounded by its
 * timeout; a check that throws is a failure naming the error, never a crash of the whole run.
 */
export async function runChecks(checks: Check[], opts: RunOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    if (opts.only?.length && !selects(check.id, opts.only)) continue;
    const t0 = Date.now();
    const base = { id: check.id, section: check.section, title: check.title };
    let result: CheckResult;
    if (opts.skip?.length && selects(check.id, opts.skip)) {
      result = { ...base, status: 'skip', reason: 'skipped (--skip)', seconds: 0 };
    } else {
      const timeoutMs = check.timeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no result after ${timeoutMs / 1000} s`)), timeoutMs);
      });
      try {
        const outcome = await Promise.race([check.run(), timeout]);
        result = { ...base, ...outcome, seconds: (Date.now() - t0) / 1000 };
      } catch (err) {
        const outcome = fail(`the check could not run: ${errorMessage(err)}`, 'fix the cause above and run ct launch-check again');
        result = { ...base, ...outcome, seconds: (Date.now() - t0) / 1000 };
      } finally {
        clearTimeout(timer);
      }
    }
    results.push(result);
    opts.onResult?.(result);
  }
  return results;
}

/** 0 when nothing failed (warnings and skips included), 1 otherwise. */
export const exitCodeOf = (results: CheckResult[]): number => (results.some((r) => r.status === 'fail') ? 1 : 0);
