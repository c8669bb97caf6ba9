/**
 * npm run test:alert-mutations: mutates every alert, recording and threshold rule (numbers up and
 * down, each label matcher and regex alternative removed, each and/or/unless side dropped, each
 * `for:` halved and doubled), runs the promtool tests that can see each mutant, and fails naming
 * every mutant no test kills. Prints `mutation score: K/N killed`.
 *   --filter TEXT   only mutants whose id contains TEXT (while writing tests)
 */
import path from 'node:path';
import { runMutations } from '../src/mutations';

const root = path.resolve(__dirname, '..', '..');
const i = process.argv.indexOf('--filter');
const filter = i > 0 ? process.argv[i + 1] : undefined;

void runMutations({
  rulesDir: path.join(root, 'alerting', 'rules'),
  testsDir: path.join(root, 'alerting', 'tests'),
  filter: filter ? (m) => m.id.includes(filter) : undefined,
}).then(
  (r) => {
    for (const m of r.survivors) process.stdout.write(`SURVIVED ${m.id}\n`);
    process.stdout.write(`mutation score: ${r.killed}/${r.total} killed (${r.seconds.toFixed(0)} s)\n`);
    process.exitCode = r.survivors.length > 0 ? 1 : 0;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
