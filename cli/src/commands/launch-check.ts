import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { durationSeconds, UserError, type Pool } from '@ct/lib';

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * ct launch-check [--send-test] [--json]: the pre-launch checklist (docs/launch-check.md). Prints
 * pass / warn / fail with the reason and the fix per check; exits 1 when any check fails.
 */
export function registerLaunchCheckCommand(program: Command): void {
  program
    .command('launch-check')
    .description(
      'the pre-launch checklist: monitoring, backups, security, admin portal, documentation; pass/fail with the fix, exit 1 on a failure',
    )
    .option('--send-test', 'also post a test alert and wait until the Alertmanagers have mailed it')
    .option('--test-timeout <duration>', 'how long --send-test waits for the delivery', '60s')
    .option('--json', 'print the report as JSON')
    .option('--only <ids>', 'run only these checks or sections, comma-separated (e.g. monitoring,security.tls)', list)
    .option('--skip <ids>', 'skip these checks or sections (reported as skipped)', list)
    .option('--dotenv <file>', "the production .env: its variables fill in what this process's environment lacks")
    .action(
      async (opts: { sendTest?: boolean; testTimeout: string; json?: boolean; only?: string[]; skip?: string[]; dotenv?: string }) => {
        const timeout = durationSeconds.safeParse(opts.testTimeout);
        if (!timeout.success || timeout.data <= 0)
          throw new UserError(`--test-timeout: "${opts.testTimeout}" must be a duration like 60s or 2m`);
        const lc = await import('../launch-check/index.js');
        let env: NodeJS.ProcessEnv = process.env;
        if (opts.dotenv) {
          let text: string;
          try {
            text = readFileSync(opts.dotenv, 'utf8');
          } catch (err) {
            throw new UserError(`--dotenv: cannot read ${opts.dotenv} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
          }
          const fromFile = Object.fromEntries(Object.entries(lc.parseEnvFile(text)).filter(([, v]) => v !== ''));
          env = { ...fromFile, ...Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== '')) };
        }
        let pool: Pool | undefined;
        const databaseUrl = env.DATABASE_URL?.trim();
        const checks = lc.launchChecks({
          env,
          // cli/dist/commands (or cli/src/commands) → the repository
          root: path.resolve(__dirname, '..', '..', '..'),
          pool: databaseUrl
            ? async () => {
                const { createPool } = await import('@ct/lib');
                pool ??= createPool({ url: databaseUrl, max: 1, applicationName: 'ct-launch-check' });
                return pool;
              }
            : undefined,
          sendTest: opts.sendTest ? { timeoutMs: timeout.data * 1000 } : undefined,
        });
        const write = (s: string) => process.stdout.write(s);
        try {
          const results = await lc.runChecks(checks, {
            only: opts.only,
            skip: opts.skip,
            onResult: opts.json ? undefined : lc.streamingPrinter(write),
          });
          if (opts.json) write(`${lc.jsonReport(results, new Date())}\n`);
          else write(`${lc.summaryLine(results)}\n`);
          process.exitCode = lc.exitCodeOf(results);
        } finally {
          await pool?.end();
        }
      },
    );
}
