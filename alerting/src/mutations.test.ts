import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exprMutants, loadRules, mutantsOf, runMutations } from './mutations';

/** The mutation check itself: it makes the mutants a careless edit would, and it sees a survivor. */

const ROOT = path.resolve(__dirname, '..', '..');
const RULES = path.join(ROOT, 'alerting', 'rules');

describe('alert rule mutants', () => {
  const ids = mutantsOf(loadRules(RULES)).map((m) => m.id);
  const has = (re: RegExp) => expect(ids.filter((id) => re.test(id)).length).toBeGreaterThan(0);

  it('include the edits no test used to catch', () => {
    has(/record client:ct_workflow_failures:increase1h .*"crashed" dropped from status=~"error\|crashed"/);
    has(/record ct:threshold:tls_expiry_seconds .*: 7 → 6 /);
    has(/record ct:threshold:api_latency_p95_seconds .*: 2 → 3 /);
    has(/alert AdminAuthFailureBurst .*"403" dropped from status=~"401\|403"/);
    has(/alert UnusualActivity .*or: right side dropped/);
    has(/alert PlatformDown .*for 2m → 4m/);
  });

  it('edit through the PromQL grammar: a dropped branch, a removed matcher, a nudged number', () => {
    const out = exprMutants('a{x="1", y=~"p|q"} > 0.5 and on () b').map((m) => m.expr);
    expect(out).toEqual(
      expect.arrayContaining([
        '(a{x="1", y=~"p|q"} > 0.5)',
        '(b)',
        'a{y=~"p|q"} > 0.5 and on () b',
        'a{x="1", y=~"q"} > 0.5 and on () b',
        'a{x="1", y=~"p|q"} > 0.6 and on () b',
        'a{x="1", y=~"p|q"} > 0.4 and on () b',
      ]),
    );
    expect(() => exprMutants('sum(')).toThrow(/cannot parse PromQL/);
  });

  it('reports a mutant the tests do not kill', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ct-mutation-check-'));
    try {
      // Only the recording-rule tests: a threshold of an alert none of them reads survives.
      cpSync(path.join(ROOT, 'alerting', 'tests', 'recording.yml'), path.join(dir, 'recording.yml'));
      const report = await runMutations({
        rulesDir: RULES,
        testsDir: dir,
        filter: (m) => /ct:threshold:api_latency_p95_seconds|client:ct_client_hours_saved:total/.test(m.id),
      });
      expect(report.survivors.map((m) => m.id).every((id) => id.includes('api_latency_p95_seconds'))).toBe(true);
      expect(report.survivors).toHaveLength(2);
      expect(report.killed).toBe(report.total - 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
