import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/**
 * Checks of the alert catalogue that promtool does not make: every alert has the labels and
 * annotations the routing and the operator rely on, a runbook section that exists, and unit tests
 * in which it fires and in which it does not.
 */

export const TIERS = ['call', 'text', 'email', 'dashboard'] as const;
export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
/** Alerts that fire by design all the time: they need no "does not fire" test. */
export const ALWAYS_FIRING = new Set(['Watchdog']);

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  file: string;
}

interface RuleFile {
  groups?: { name: string; rules?: ({ alert?: string; record?: string } & Record<string, unknown>)[] }[];
}
interface TestFile {
  tests?: { name?: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));

export function loadAlertRules(rulesDir: string): AlertRule[] {
  const alerts: AlertRule[] = [];
  for (const file of yamlFiles(rulesDir)) {
    const doc = parse(readFileSync(file, 'utf8')) as RuleFile | null;
    for (const group of doc?.groups ?? []) {
      for (const rule of group.rules ?? []) {
        if (!rule.alert) continue;
        alerts.push({
          alert: rule.alert,
          expr: String(rule.expr),
          for: rule.for as string | undefined,
          labels: (rule.labels ?? {}) as Record<string, string>,
          annotations: (rule.annotations ?? {}) as Record<string, string>,
          file: path.basename(file),
        });
      }
    }
  }
  return alerts;
}

export interface TestCoverage {
  firing: Set<string>;
  silent: Set<string>;
  /** Alert names tested that no rule defines. */
  referenced: Set<string>;
}

export function loadTestCoverage(testsDir: string): TestCoverage {
  const cov: TestCoverage = { firing: new Set(), silent: new Set(), referenced: new Set() };
  for (const file of yamlFiles(testsDir)) {
    const doc = parse(readFileSync(file, 'utf8')) as TestFile | null;
    for (const test of doc?.tests ?? []) {
      for (const check of test.alert_rule_test ?? []) {
        cov.referenced.add(check.alertname);
        ((check.exp_alerts ?? []).length > 0 ? cov.firing : cov.silent).add(check.alertname);
      }
    }
  }
  return cov;
}

/** GitHub-style anchors of the markdown headings of a document. */
export function markdownAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    anchors.add(
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    );
  }
  return anchors;
}

/** Every problem of the catalogue, each naming its alert; empty when all is well. */
export function checkCatalogue(opts: { rulesDir: string; testsDir: string; runbooksFile: string }): string[] {
  const problems: string[] = [];
  const alerts = loadAlertRules(opts.rulesDir);
  const cov = loadTestCoverage(opts.testsDir);
  const anchors = existsSync(opts.runbooksFile) ? markdownAnchors(readFileSync(opts.runbooksFile, 'utf8')) : new Set<string>();
  const names = new Set(alerts.map((a) => a.alert));
  if (alerts.length === 0) problems.push(`no alert rules found in ${opts.rulesDir}`);
  for (const a of alerts) {
    const where = `${a.alert} (${a.file})`;
    if (!TIERS.includes(a.labels.tier as never))
      problems.push(`${where}: label tier must be one of ${TIERS.join('|')}, got ${a.labels.tier}`);
    if (!SEVERITIES.includes(a.labels.severity as never))
      problems.push(`${where}: label severity must be one of ${SEVERITIES.join('|')}, got ${a.labels.severity}`);
    for (const key of ['summary', 'description', 'runbook_url']) {
      if (!a.annotations[key]) problems.push(`${where}: annotation ${key} is missing`);
    }
    const anchor = /docs\/runbooks\.md#([\w-]+)$/.exec(a.annotations.runbook_url ?? '')?.[1];
    if (a.annotations.runbook_url && !anchor) problems.push(`${where}: runbook_url must point to docs/runbooks.md#<section>`);
    if (anchor && !anchors.has(anchor))
      problems.push(`${where}: runbook_url points to #${anchor}, which is not a section of docs/runbooks.md`);
  }
  for (const name of [...names].sort()) {
    if (!cov.firing.has(name)) problems.push(`${name}: no promtool test in which it fires (alerting/tests/)`);
    if (!cov.silent.has(name) && !ALWAYS_FIRING.has(name))
      problems.push(`${name}: no promtool test in which it must not fire (alerting/tests/)`);
  }
  for (const name of [...cov.referenced].sort()) {
    if (!names.has(name)) problems.push(`${name}: tested in alerting/tests/ but no rule defines it`);
  }
  return problems;
}

export interface ToolRun {
  command: string;
  ok: boolean;
  output: string;
}

function run(cmd: string, args: string[], cwd: string): ToolRun {
  try {
    const output = execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { command: [cmd, ...args].join(' '), ok: true, output };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { command: [cmd, ...args].join(' '), ok: false, output: `${e.stdout ?? ''}${e.stderr ?? e.message}` };
  }
}

/**
 * What `npm run test:alerts` runs from the repository root: promtool check rules, promtool test
 * rules, and the catalogue check. Resolves to the runs and the catalogue's problems.
 */
export function testAlerts(root: string): { runs: ToolRun[]; problems: string[] } {
  const rulesDir = path.join(root, 'alerting', 'rules');
  const testsDir = path.join(root, 'alerting', 'tests');
  const rel = (files: string[]) => files.map((f) => path.relative(root, f));
  const runs = [
    run('promtool', ['check', 'rules', ...rel(yamlFiles(rulesDir))], root),
    run('promtool', ['test', 'rules', ...rel(yamlFiles(testsDir))], root),
  ];
  const problems = checkCatalogue({ rulesDir, testsDir, runbooksFile: path.join(root, 'docs', 'runbooks.md') });
  return { runs, problems };
}
