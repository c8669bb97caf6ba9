import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { benchN8nMode } from './services';
import { parseEnvFile, startStack, type Stack } from './stack';

/**
 * Jest global setup: starts a private bench for this test run (in its own folder, on its own
 * ports, so a developer's `stack:up` bench is left alone) and hands its addresses to the test
 * workers through the environment. CT_BENCH_REUSE=1 uses the running `.bench` (or the one in
 * CT_BENCH_STATE_DIR) instead, for fast iteration on one suite. CT_BENCH_N8N_MODE=queue runs n8n
 * as a main instance and a worker on Redis (the queue-mode run of `npm test`).
 */
export default async function globalSetup(): Promise<void> {
  const reuse = process.env.CT_BENCH_REUSE === '1';
  const envFile = path.join(process.env.CT_BENCH_STATE_DIR ?? path.resolve(__dirname, '..', '..', '.bench'), 'env');
  if (reuse) {
    const wanted = benchN8nMode(); // before the bench's env, which records the mode it runs
    if (!existsSync(envFile)) throw new Error('CT_BENCH_REUSE=1 but no bench is running: npm run stack:up first');
    Object.assign(process.env, parseEnvFile(readFileSync(envFile, 'utf8')));
    // A bench from before queue mode existed records no mode: it runs n8n in regular mode.
    const running = process.env.N8N_URL ? (process.env.CT_BENCH_N8N_MODE ?? 'regular') : wanted;
    if (running !== wanted) throw new Error(`CT_BENCH_N8N_MODE=${wanted} but the running bench runs n8n in ${running} mode`);
    return;
  }
  const stack = await startStack();
  Object.assign(process.env, stack.env);
  (globalThis as { __CT_STACK__?: Stack }).__CT_STACK__ = stack;
}
