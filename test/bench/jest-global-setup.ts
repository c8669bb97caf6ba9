import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startStack, type Stack } from './stack';

/**
 * Jest global setup: starts a private bench for this test run (in its own folder, on its own
 * ports, so a developer's `stack:up` bench is left alone) and hands its addresses to the test
 * workers through the environment. CT_BENCH_REUSE=1 uses the running `.bench` instead, for fast
 * iteration on one suite.
 */
export default async function globalSetup(): Promise<void> {
  const reuse = process.env.CT_BENCH_REUSE === '1';
  const envFile = path.resolve(__dirname, '..', '..', '.bench', 'env');
  if (reuse) {
    if (!existsSync(envFile)) throw new Error('CT_BENCH_REUSE=1 but no bench is running: npm run stack:up first');
    for (const line of readFileSync(envFile, 'utf8').split('\n')) {
      const m = /^([A-Z0-9_]+)='(.*)'$/.exec(line);
      if (m) process.env[m[1]!] = m[2]!.replace(/'\\''/g, "'");
    }
    return;
  }
  const stack = await startStack();
  Object.assign(process.env, stack.env);
  (globalThis as { __CT_STACK__?: Stack }).__CT_STACK__ = stack;
}
