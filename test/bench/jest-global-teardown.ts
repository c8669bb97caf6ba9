import type { Stack } from './stack';

export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as { __CT_STACK__?: Stack }).__CT_STACK__;
  if (stack) await stack.stop();
}
