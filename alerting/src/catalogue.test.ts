import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkCatalogue, markdownAnchors, testAlerts } from './catalogue';

const ROOT = path.resolve(__dirname, '..', '..');

describe('npm run test:alerts (the real catalogue)', () => {
  it('passes promtool check rules, promtool test rules and the catalogue check', () => {
    const { runs, problems } = testAlerts(ROOT);
    for (const r of runs)
      expect({ command: r.command, ok: r.ok, output: r.ok ? '' : r.output }).toEqual({ command: r.command, ok: true, output: '' });
    expect(problems).toEqual([]);
    expect(runs[1]!.output).toMatch(/SUCCESS/);
  }, 120_000);
});

describe('catalogue check', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-catalogue-'));
    mkdirSync(path.join(dir, 'rules'));
    mkdirSync(path.join(dir, 'tests'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const rule = (name: string, labels: string, anchor: string) => `
      - alert: ${name}
        expr: up == 0
        labels: ${labels}
        annotations: { summary: s, description: d, runbook_url: 'https://x.example/docs/runbooks.md#${anchor}' }`;
  const check = (name: string, firing: boolean) => `
      - alertname: ${name}
        eval_time: 1m
        exp_alerts: ${firing ? '[{ exp_labels: {} }]' : '[]'}`;

  it('names each alert without a firing test, without a silent test, with bad labels or a missing runbook section', () => {
    writeFileSync(
      path.join(dir, 'rules', 'a.yml'),
      `groups:\n  - name: g\n    rules:${rule('Good', '{ tier: call, severity: critical }', 'good')}${rule('NeverFires', '{ tier: text, severity: high }', 'neverfires')}${rule('Unlabelled', '{ tier: pager }', 'nowhere')}\n      - record: r\n        expr: vector(1)\n`,
    );
    writeFileSync(
      path.join(dir, 'tests', 't.yml'),
      `tests:\n  - alert_rule_test:${check('Good', true)}${check('Good', false)}${check('NeverFires', false)}${check('Unlabelled', true)}${check('Ghost', true)}\n`,
    );
    writeFileSync(path.join(dir, 'runbooks.md'), '# Runbooks\n\n## Good\n\n## NeverFires\n\n## Unlabelled\n');
    const problems = checkCatalogue({
      rulesDir: path.join(dir, 'rules'),
      testsDir: path.join(dir, 'tests'),
      runbooksFile: path.join(dir, 'runbooks.md'),
    });
    expect(problems).toEqual([
      'Unlabelled (a.yml): label tier must be one of call|text|email|dashboard, got pager',
      'Unlabelled (a.yml): label severity must be one of critical|high|medium|low, got undefined',
      'Unlabelled (a.yml): runbook_url points to #nowhere, which is not a section of docs/runbooks.md',
      'NeverFires: no promtool test in which it fires (alerting/tests/)',
      'Unlabelled: no promtool test in which it must not fire (alerting/tests/)',
      'Ghost: tested in alerting/tests/ but no rule defines it',
    ]);
  });

  it('computes GitHub-style heading anchors', () => {
    expect([...markdownAnchors('# Runbooks\n## PlatformDown\n### Disk space: low (20 %)\nnot a heading')]).toEqual([
      'runbooks',
      'platformdown',
      'disk-space-low-20-',
    ]);
  });
});
