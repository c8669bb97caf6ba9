/**
 * `npm run stack:up` / `stack:down` / `prereqs`: the bench for a developer's shell.
 * up writes .bench/env (source it with `set -a; . .bench/env; set +a`) and .bench/state.json.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { installAll } from './install';
import { daemonsOutliveThisProcess, isAlive } from './process';
import { SERVICE_NAMES, startStack, stopStackFromState, toEnvFile, type ServiceName, type StackState } from './stack';

// CT_BENCH_STATE_DIR lets a test run its own stack:up/stack:down without touching a developer's.
const BENCH_DIR = process.env.CT_BENCH_STATE_DIR ?? path.resolve(__dirname, '..', '..', '.bench');
const STATE_FILE = path.join(BENCH_DIR, 'state.json');
const ENV_FILE = path.join(BENCH_DIR, 'env');

function readState(): StackState | null {
  return existsSync(STATE_FILE) ? (JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StackState) : null;
}

async function main(cmd: string | undefined, args: string[]): Promise<void> {
  switch (cmd) {
    case 'install':
      installAll();
      console.log('bench prerequisites installed');
      return;
    case 'up': {
      const existing = readState();
      if (existing && Object.values(existing.pids).some(isAlive)) {
        throw new Error(`a bench is already running (${existing.dir}); run npm run stack:down first`);
      }
      const unknown = args.filter((a) => !(SERVICE_NAMES as readonly string[]).includes(a));
      if (unknown.length) throw new Error(`unknown service(s): ${unknown.join(', ')} (known: ${SERVICE_NAMES.join(', ')})`);
      const stack = await startStack({ services: args.length ? (args as ServiceName[]) : undefined });
      mkdirSync(BENCH_DIR, { recursive: true });
      writeFileSync(STATE_FILE, JSON.stringify({ dir: stack.dir, startedAt: stack.startedAt, pids: stack.pids, env: stack.env }, null, 2));
      writeFileSync(ENV_FILE, toEnvFile(stack.env));
      console.log(`bench running in ${stack.dir}`);
      for (const [k, v] of Object.entries(stack.env)) console.log(`  ${k}=${/KEY|PASSWORD|SECRET/.test(k) ? '***' : v}`);
      console.log(`load it with: set -a; . ${path.relative(process.cwd(), ENV_FILE)}; set +a`);
      return;
    }
    case 'down': {
      const state = readState();
      if (!state) {
        console.log('no bench is running');
        return;
      }
      await stopStackFromState(state);
      rmSync(STATE_FILE, { force: true });
      rmSync(ENV_FILE, { force: true });
      console.log(`stopped ${Object.keys(state.pids).join(', ')}`);
      return;
    }
    case 'status': {
      const state = readState();
      if (!state) return console.log('no bench is running');
      for (const [name, pid] of Object.entries(state.pids))
        console.log(`${name.padEnd(14)} pid ${pid} ${isAlive(pid) ? 'running' : 'NOT RUNNING'}`);
      return;
    }
    default:
      throw new Error('usage: bench <install|up [service…]|down|status>');
  }
}

// The bench this program starts is for the shell (or the test) that ran it: it outlives this process.
daemonsOutliveThisProcess();
main(process.argv[2], process.argv.slice(3)).catch((err: Error) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
