import type { ExecutionSource } from '@ct/exporters';

/** An n8n with no workflows and no executions, for suites about the other collectors. */
export const emptyN8n: ExecutionSource = {
  workflows: async function* () {
    /* nothing */
  },
  executions: async function* () {
    /* nothing */
  },
};
