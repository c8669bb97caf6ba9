import { setFlagsFromString } from 'node:v8';

/**
 * For a process whose heavy work is streaming a backup or a restore: hundreds of MB pass through
 * short-lived buffers (pipe reads, cipher output, upload parts), and V8 answers that much buffer
 * memory with incremental marking in many small steps, which cost about a quarter of ct's own CPU
 * time in a backup (docs/benchmarks.md). An occasional full collection instead is cheaper, and in
 * these processes no request waits on its pause. The flag is read at each collection, so setting
 * it once the process runs takes effect. Not for `ct serve api` or `all`, whose requests would.
 */
export function preferFullCollections(): void {
  setFlagsFromString('--no-incremental-marking');
}
