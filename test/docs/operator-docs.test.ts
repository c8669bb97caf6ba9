import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/**
 * The operator's documents cover what exists: every alert and every service of the production
 * stack has its troubleshooting row, every emergency the launch needs a procedure for has one, and
 * the README links them all. A new alert or service without its row fails here.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const read = (p: string) => readFileSync(path.join(ROOT, p), 'utf8');

function alertNames(): string[] {
  const names = new Set<string>();
  for (const f of readdirSync(path.join(ROOT, 'alerting', 'rules')).filter((f) => f.endsWith('.yml'))) {
    const doc = parse(read(`alerting/rules/${f}`)) as { groups?: { rules: { alert?: string }[] }[] };
    for (const g of doc.groups ?? []) for (const r of g.rules) if (r.alert) names.add(r.alert);
  }
  return [...names];
}

/** The rows of the markdown table under a `## heading`, by their first cell (backticks removed). */
function tableKeys(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no section "## ${heading}"`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown
    .slice(start, end < 0 ? undefined : end)
    .split('\n')
    .filter((l) => l.startsWith('| ') && !/^\|\s*-/.test(l))
    .slice(1)
    .flatMap((l) =>
      l
        .split('|')[1]!
        .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
        .replace(/`/g, '')
        .split(',')
        .map((s) => s.trim()),
    );
}

it('troubleshooting.md has a row for every alert, linked to its runbook', () => {
  const doc = read('docs/troubleshooting.md');
  const rows = tableKeys(doc, 'By alert');
  expect(alertNames().filter((a) => !rows.includes(a))).toEqual([]);
  const runbooks = read('docs/runbooks.md');
  for (const a of alertNames()) {
    expect(doc).toContain(`[${a}](runbooks.md#${a.toLowerCase()})`);
    expect(runbooks).toContain(`\n## ${a}\n`);
  }
});

it('troubleshooting.md has a row for every long-running service of docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, { restart?: string }> };
  const longRunning = Object.entries(compose.services)
    .filter(([, s]) => s.restart !== 'no')
    .map(([name]) => name);
  const rows = tableKeys(read('docs/troubleshooting.md'), 'By service');
  expect(longRunning.filter((s) => !rows.includes(s))).toEqual([]);
  expect(rows.filter((r) => !compose.services[r])).toEqual([]);
});

it('emergency.md has a procedure for each emergency of the launch checklist', () => {
  const headings = read('docs/emergency.md')
    .split('\n')
    .filter((l) => l.startsWith('## '));
  for (const topic of [
    /platform is down/i,
    /database is lost/i,
    /webhook secret leaked/i,
    /admin API key/i,
    /Grafana/i,
    /encryption key is lost/i,
  ]) {
    expect(headings.some((h) => topic.test(h))).toBe(true);
  }
});

it('the README links every operator document, and each exists', () => {
  const readme = read('README.md');
  for (const doc of ['deployment', 'troubleshooting', 'emergency', 'scaling', 'security', 'runbooks', 'onboarding', 'launch-check']) {
    expect(readme).toContain(`(docs/${doc}.md)`);
    expect(read(`docs/${doc}.md`).length).toBeGreaterThan(500);
  }
});

it('every relative link between the documents points at a file that exists', () => {
  const broken: string[] = [];
  for (const file of [
    'README.md',
    ...readdirSync(path.join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ]) {
    for (const m of read(file).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      if (!existsSync(path.join(ROOT, path.dirname(file), target))) broken.push(`${file}: ${target}`);
    }
  }
  expect(broken).toEqual([]);
});
