/**
 * npm run test:alerts: promtool check rules, promtool test rules, and the catalogue check (every
 * alert has tier/severity, summary/description/runbook_url, a runbook section, and promtool tests
 * in which it fires and does not fire). Exits 1 naming every problem.
 */
import path from 'node:path';
import { testAlerts } from '../src/catalogue';

const root = path.resolve(__dirname, '..', '..');
const { runs, problems } = testAlerts(root);
let failed = false;
for (const r of runs) {
  process.stdout.write(`$ ${r.command}\n${r.output}\n`);
  failed ||= !r.ok;
}
if (problems.length > 0) {
  failed = true;
  process.stdout.write(`alert catalogue: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
} else {
  process.stdout.write('alert catalogue: every alert is labelled, annotated, has a runbook section and firing / not-firing tests\n');
}
process.exitCode = failed ? 1 : 0;
