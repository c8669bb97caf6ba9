import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import type { LRParser } from '@lezer/lr';
import { parse, stringify } from 'yaml';

/**
 * Mutation testing of the alert, recording and threshold rules: each rule is changed the way a
 * careless edit would change it, and the promtool tests must notice. Operators:
 *   - each number up and down (a threshold, a comparison constant, a quantile);
 *   - each label matcher removed, and each alternative of a regex matcher (`401|403`) dropped;
 *   - each `and` / `or` / `unless` replaced by its left and by its right side;
 *   - each `for:` halved and doubled.
 * Expressions are edited through Prometheus's own PromQL grammar (@prometheus-io/lezer-promql),
 * never by text search. Each mutant is tested with the test groups that can see it (those testing
 * an alert or expression whose rules depend on the mutated one), so a run stays short.
 */

// The grammar ships as an ES module with a CommonJS build; required like the dashboards' tests do.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parser } = require('@prometheus-io/lezer-promql') as { parser: LRParser };

type Yaml = Record<string, unknown>;

export interface Rule {
  file: string;
  group: number;
  index: number;
  /** The alert or recorded name. */
  name: string;
  kind: 'alert' | 'record';
  expr: string;
  for?: string;
}

export interface Mutant {
  id: string;
  rule: Rule;
  description: string;
  expr: string;
  for?: string;
}

interface SyntaxNode {
  name: string;
  from: number;
  to: number;
  firstChild: SyntaxNode | null;
  lastChild: SyntaxNode | null;
  nextSibling: SyntaxNode | null;
  parent: SyntaxNode | null;
}

function parseExpr(expr: string): SyntaxNode {
  const tree = parser.parse(expr);
  let error: number | undefined;
  tree.iterate({
    enter: (n) => {
      if (n.type.isError && error === undefined) error = n.from;
    },
  });
  if (error !== undefined) throw new Error(`cannot parse PromQL at ${error}: ${expr}`);
  return tree.topNode as unknown as SyntaxNode;
}

function walk(node: SyntaxNode, visit: (n: SyntaxNode) => void): void {
  visit(node);
  for (let c = node.firstChild; c; c = c.nextSibling) walk(c, visit);
}

const splice = (s: string, from: number, to: number, by: string) => s.slice(0, from) + by + s.slice(to);

/** Recorded series names (level:metric:ops) an expression reads. */
export function recordedReferences(expr: string): string[] {
  const out = new Set<string>();
  walk(parseExpr(expr), (n) => {
    if (n.name === 'Identifier' && n.parent?.name === 'VectorSelector') {
      const id = expr.slice(n.from, n.to);
      if (id.includes(':')) out.add(id);
    }
  });
  return [...out];
}

const fmt = (n: number) => String(Number(n.toPrecision(6)));

/** A number moved enough that a test at the threshold notices: ±1 for small integers, ±20 % otherwise. */
export function nudged(value: number): [number, number] {
  if (value === 0) return [1, -1];
  if (Number.isInteger(value)) {
    const step = Math.max(1, Math.round(Math.abs(value) * 0.2));
    return [value + step, value - step];
  }
  return [value * 1.2, value * 0.8];
}

/** Every mutant of one expression (without `for:` changes). */
export function exprMutants(expr: string, opts: { numbers?: boolean } = {}): { description: string; expr: string }[] {
  const out: { description: string; expr: string }[] = [];
  walk(parseExpr(expr), (n) => {
    const text = expr.slice(n.from, n.to);
    const at = `@${n.from}`;
    if (opts.numbers !== false && n.name === 'NumberDurationLiteral' && /^[0-9.]+(e[+-]?\d+)?$/i.test(text)) {
      const [up, down] = nudged(Number(text));
      out.push({ description: `${text} → ${fmt(up)} ${at}`, expr: splice(expr, n.from, n.to, fmt(up)) });
      out.push({ description: `${text} → ${fmt(down)} ${at}`, expr: splice(expr, n.from, n.to, fmt(down)) });
    }
    if (n.name === 'UnquotedLabelMatcher') {
      const removed = splice(expr, n.from, n.to, '')
        .replace(/\{\s*,\s*/, '{')
        .replace(/,\s*\}/, '}')
        .replace(/,\s*,/, ',');
      out.push({ description: `matcher ${text} removed ${at}`, expr: removed });
      const op = n.firstChild?.nextSibling;
      const value = op?.nextSibling;
      if (op && value && /~/.test(expr.slice(op.from, op.to))) {
        const literal = expr.slice(value.from + 1, value.to - 1);
        const alternatives = literal.split('|');
        if (alternatives.length > 1) {
          alternatives.forEach((alt, i) => {
            const kept = alternatives.filter((_a, j) => j !== i).join('|');
            out.push({ description: `"${alt}" dropped from ${text} ${at}`, expr: splice(expr, value.from + 1, value.to - 1, kept) });
          });
        }
      }
    }
    if (n.name === 'BinaryExpr') {
      let op: SyntaxNode | null = null;
      for (let c = n.firstChild; c; c = c.nextSibling) if (['And', 'Or', 'Unless'].includes(c.name)) op = c;
      const left = n.firstChild;
      const right = n.lastChild;
      if (op && left && right) {
        const word = expr.slice(op.from, op.to);
        out.push({
          description: `${word}: right side dropped ${at}`,
          expr: splice(expr, n.from, n.to, `(${expr.slice(left.from, left.to)})`),
        });
        out.push({
          description: `${word}: left side dropped ${at}`,
          expr: splice(expr, n.from, n.to, `(${expr.slice(right.from, right.to)})`),
        });
      }
    }
  });
  return out;
}

const DURATION = /^(\d+)(ms|s|m|h|d|w)$/;
const UNIT_S: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const seconds = (d: string) => {
  const m = DURATION.exec(d);
  if (!m) throw new Error(`unsupported duration ${d}`);
  return Number(m[1]) * UNIT_S[m[2]!]!;
};
const asDuration = (s: number) => (s % 60 === 0 ? `${s / 60}m` : `${Math.round(s)}s`);

export function loadRules(rulesDir: string): Rule[] {
  const rules: Rule[] = [];
  for (const file of readdirSync(rulesDir)
    .filter((f) => f.endsWith('.yml'))
    .sort()) {
    const doc = parse(readFileSync(path.join(rulesDir, file), 'utf8')) as { groups: { rules: Yaml[] }[] };
    doc.groups.forEach((g, gi) =>
      g.rules.forEach((r, ri) =>
        rules.push({
          file,
          group: gi,
          index: ri,
          name: String(r.alert ?? r.record),
          kind: r.alert ? 'alert' : 'record',
          expr: String(r.expr),
          for: r.for as string | undefined,
        }),
      ),
    );
  }
  return rules;
}

/**
 * Alerts that always fire by design (the Watchdog heartbeat, `vector(1)`): their value means
 * nothing, so changing it is not a fault a test could or should see.
 */
export const VALUE_FREE_ALERTS = new Set(['Watchdog']);

export function mutantsOf(rules: Rule[]): Mutant[] {
  const out: Mutant[] = [];
  for (const rule of rules) {
    const id = (d: string) => `${rule.file} ${rule.kind} ${rule.name} (group ${rule.group}, rule ${rule.index}): ${d}`;
    const numbers = !(rule.kind === 'alert' && VALUE_FREE_ALERTS.has(rule.name));
    for (const m of exprMutants(rule.expr, { numbers }))
      out.push({ id: id(m.description), rule, description: m.description, expr: m.expr, for: rule.for });
    if (rule.for) {
      const s = seconds(rule.for);
      for (const changed of [s / 2, s * 2]) {
        const d = `for ${rule.for} → ${asDuration(changed)}`;
        out.push({ id: id(d), rule, description: d, expr: rule.expr, for: asDuration(changed) });
      }
    }
  }
  return out;
}

/** The names (alerts and records) whose value depends on `name`, itself included. */
export function dependents(rules: Rule[], name: string): Set<string> {
  const found = new Set([name]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const r of rules) {
      if (found.has(r.name)) continue;
      if (recordedReferences(r.expr).some((ref) => found.has(ref))) {
        found.add(r.name);
        grew = true;
      }
    }
  }
  return found;
}

/** `names` and every recorded series they read, transitively. */
export function dependencies(rules: Rule[], names: string[]): Set<string> {
  const found = new Set(names);
  const queue = [...names];
  while (queue.length > 0) {
    const name = queue.pop()!;
    for (const r of rules.filter((x) => x.name === name)) {
      for (const ref of recordedReferences(r.expr)) {
        if (!found.has(ref)) {
          found.add(ref);
          queue.push(ref);
        }
      }
    }
  }
  return found;
}

interface TestGroup extends Yaml {
  alert_rule_test?: { alertname: string }[];
  promql_expr_test?: { expr: string }[];
}
interface TestFile extends Yaml {
  rule_files: string[];
  tests: TestGroup[];
}

/** What a test expression reads: recorded series, and alerts through ALERTS{alertname=...}. */
function expressionNames(expr: string): string[] {
  const alerts = [...expr.matchAll(/alertname\s*=~?\s*"([^"]+)"/g)].flatMap((m) => m[1]!.split('|'));
  return [...recordedReferences(expr), ...alerts];
}

/** The test groups of `file` that can tell a change of anything in `names`. */
function relevantGroups(file: TestFile, names: Set<string>): TestGroup[] {
  return file.tests.filter(
    (t) =>
      (t.alert_rule_test ?? []).some((a) => names.has(a.alertname)) ||
      (t.promql_expr_test ?? []).some((p) => expressionNames(p.expr).some((r) => names.has(r))),
  );
}

function promtool(args: string[], cwd: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ ok: !err, output: `${stdout}${stderr}` }),
    );
  });
}

export interface MutationReport {
  total: number;
  killed: number;
  survivors: Mutant[];
  seconds: number;
}

/**
 * Runs every mutant of the rules in `rulesDir` against the tests in `testsDir` (promtool test
 * rules), `concurrency` at a time. A mutant is killed when promtool fails.
 */
export async function runMutations(opts: {
  rulesDir: string;
  testsDir: string;
  concurrency?: number;
  filter?: (m: Mutant) => boolean;
  onResult?: (m: Mutant, killed: boolean, done: number, total: number) => void;
}): Promise<MutationReport> {
  const started = Date.now();
  const rules = loadRules(opts.rulesDir);
  const ruleDocs = new Map<string, Yaml & { groups: { rules: Yaml[] }[] }>();
  for (const file of new Set(rules.map((r) => r.file))) {
    ruleDocs.set(file, parse(readFileSync(path.join(opts.rulesDir, file), 'utf8')) as Yaml & { groups: { rules: Yaml[] }[] });
  }
  const tests = readdirSync(opts.testsDir)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => ({ name: f, doc: parse(readFileSync(path.join(opts.testsDir, f), 'utf8')) as TestFile }));
  const mutants = mutantsOf(rules).filter(opts.filter ?? (() => true));
  // Each rule unchanged, through the same pruning: these must pass, or a kill would prove nothing.
  const baselines: Mutant[] = [...new Set(mutants.map((m) => m.rule))].map((rule) => ({
    id: `${rule.file} ${rule.kind} ${rule.name} (group ${rule.group}, rule ${rule.index}): unchanged`,
    rule,
    description: 'unchanged',
    expr: rule.expr,
    for: rule.for,
  }));
  const broken: string[] = [];
  const work = mkdtempSync(path.join(tmpdir(), 'ct-mutants-'));
  const survivors: Mutant[] = [];
  let killed = 0;
  let done = 0;
  try {
    const runOne = async (m: Mutant, n: number): Promise<boolean> => {
      const dir = path.join(work, `m${n}`);
      mkdirSync(path.join(dir, 'rules'), { recursive: true });
      mkdirSync(path.join(dir, 'tests'));
      const names = dependents(rules, m.rule.name);
      const selected: { name: string; doc: TestFile; groups: TestGroup[] }[] = [];
      const tested = new Set<string>();
      for (const t of tests) {
        const groups = relevantGroups(t.doc, names);
        if (groups.length === 0) continue;
        selected.push({ ...t, groups });
        for (const g of groups) {
          for (const a of g.alert_rule_test ?? []) tested.add(a.alertname);
          for (const p of g.promql_expr_test ?? []) for (const x of expressionNames(p.expr)) tested.add(x);
        }
      }
      if (selected.length === 0) return false; // no test can see this rule: it survives
      // Only the rules those tests read (and what they read in turn): promtool evaluates every rule
      // at every step, and the tests over a week of samples would otherwise dominate the run.
      const needed = dependencies(rules, [...tested]);
      const keptGroups = new Set<string>();
      for (const [file, doc] of ruleDocs) {
        const copy = structuredClone(doc);
        if (file === m.rule.file) {
          const rule = copy.groups[m.rule.group]!.rules[m.rule.index]!;
          rule.expr = m.expr;
          if (m.for !== undefined) rule.for = m.for;
        }
        copy.groups = copy.groups
          .map((g) => ({ ...g, rules: g.rules.filter((r) => needed.has(String(r.alert ?? r.record))) }))
          .filter((g) => g.rules.length > 0);
        for (const g of copy.groups as Yaml[]) keptGroups.add(String(g.name));
        writeFileSync(path.join(dir, 'rules', file), stringify(copy.groups.length > 0 ? copy : { groups: [] }));
      }
      const files: string[] = [];
      for (const t of selected) {
        const ruleFiles = t.doc.rule_files.map((rf) => `../rules/${path.basename(rf)}`);
        const doc: Yaml = { ...t.doc, rule_files: ruleFiles, tests: t.groups };
        // group_eval_order may only name groups that exist: pruning can remove some.
        if (Array.isArray(t.doc.group_eval_order))
          doc.group_eval_order = (t.doc.group_eval_order as string[]).filter((g) => keptGroups.has(g));
        writeFileSync(path.join(dir, 'tests', t.name), stringify(doc));
        files.push(t.name);
      }
      const res = await promtool(['test', 'rules', ...files], path.join(dir, 'tests'));
      if (n < 0 && res.ok === false) process.stderr.write(`${m.id}\n${res.output}\n`);
      rmSync(dir, { recursive: true, force: true });
      return !res.ok;
    };
    let nextBaseline = 0;
    const baselineWorker = async () => {
      while (nextBaseline < baselines.length) {
        const n = nextBaseline++;
        if (await runOne(baselines[n]!, -1 - n)) broken.push(baselines[n]!.id);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? Math.max(1, cpus().length) }, baselineWorker));
    if (broken.length > 0) throw new Error(`the promtool tests fail on unmutated rules:\n${broken.join('\n')}`);
    let next = 0;
    const worker = async () => {
      while (next < mutants.length) {
        const n = next++;
        const m = mutants[n]!;
        const dead = await runOne(m, n);
        if (dead) killed++;
        else survivors.push(m);
        done++;
        opts.onResult?.(m, dead, done, mutants.length);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? Math.max(1, cpus().length) }, worker));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  survivors.sort((a, b) => a.id.localeCompare(b.id));
  return { total: mutants.length, killed, survivors, seconds: (Date.now() - started) / 1000 };
}
