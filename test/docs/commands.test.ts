import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../cli/src/main';

/**
 * Every `ct` command the operator documentation shows exists, with the options it shows, and is run
 * by at least one test. Commands are read from code (backticks and fenced blocks) only, as an
 * operator would copy them: `ct …`, `npx ct …`, and `docker-compose run --rm <service> …`, whose
 * arguments go to `ct` (the platform image's entry point).
 */
const ROOT = path.resolve(__dirname, '..', '..');
const DOCS = [
  path.join(ROOT, 'README.md'),
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join(ROOT, 'docs', f)),
];
/** Compose services that run the platform's image, so `docker-compose run --rm <service> <args>` is `ct <args>`. */
const CT_SERVICES = ['ct', 'api', 'exporters', 'scheduler', 'notifier', 'tenant-proxy', 'migrate'];

interface Documented {
  file: string;
  line: number;
  text: string;
  path: string[];
  options: string[];
}

/** The code of a markdown file: inline spans and fenced blocks, with their line numbers. */
function codeOf(markdown: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^\s*```/.test(text)) {
      fenced = !fenced;
      return;
    }
    if (fenced) out.push({ line: i + 1, code: text });
    else for (const m of text.matchAll(/`([^`]+)`/g)) out.push({ line: i + 1, code: m[1]! });
  });
  return out;
}

function subcommand(cmd: Command, name: string): Command | undefined {
  return cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));
}

/** The `ct` invocations in one piece of code: the command path and the options given. */
function invocations(program: Command, code: string): { text: string; path: string[]; options: string[] }[] {
  const out: { text: string; path: string[]; options: string[] }[] = [];
  // Each shell command separately (pipes, &&, ;), comments dropped.
  for (const part of code.replace(/\s#.*$/, '').split(/\s*(?:\|\||&&|;|\|)\s*/)) {
    const words = part.trim().split(/\s+/);
    let start = -1;
    if (words[0] === 'ct') start = 1;
    else if (words[0] === 'npx' && words[1] === 'ct') start = 2;
    else if (words[0] === 'docker-compose' && words[1] === 'run') {
      const i = words.findIndex((w, k) => k > 1 && !w.startsWith('-'));
      if (i > 0 && CT_SERVICES.includes(words[i]!)) start = i + 1;
    }
    if (start < 0 || !words[start] || !/^[a-z]/.test(words[start]!)) continue;
    const rest = words.slice(start);
    const cmdPath: string[] = [];
    let cmd: Command = program;
    while (rest.length && subcommand(cmd, rest[0]!)) {
      cmd = subcommand(cmd, rest[0]!)!;
      cmdPath.push(rest.shift()!);
    }
    // `ct serve api` and such name an argument, not a subcommand: the path ends at the last command.
    if (!cmdPath.length) cmdPath.push(rest[0]!);
    out.push({ text: part.trim(), path: cmdPath, options: rest.filter((w) => /^--[a-z]/.test(w)).map((w) => w.replace(/=.*$/, '')) });
  }
  return out;
}

const program = buildProgram();
const documented: Documented[] = DOCS.flatMap((file) =>
  codeOf(readFileSync(file, 'utf8')).flatMap(({ line, code }) =>
    invocations(program, code).map((inv) => ({ file: path.relative(ROOT, file), line, ...inv })),
  ),
);

function commandAt(cmdPath: string[]): Command | undefined {
  let cmd: Command | undefined = program;
  for (const name of cmdPath) cmd = cmd && subcommand(cmd, name);
  return cmd;
}

it('finds the documented commands (the extraction itself works)', () => {
  expect(documented.length).toBeGreaterThan(30);
  expect(documented.map((d) => d.path.join(' '))).toEqual(expect.arrayContaining(['backup restore', 'migrate', 'audit verify']));
});

it('documents only commands that exist, each with options it has', () => {
  const wrong: string[] = [];
  for (const d of documented) {
    const cmd = commandAt(d.path);
    if (!cmd) {
      wrong.push(`${d.file}:${d.line} \`${d.text}\`: there is no command ct ${d.path.join(' ')}`);
      continue;
    }
    const known = new Set(['--help', '--version', ...cmd.options.map((o) => o.long!), ...program.options.map((o) => o.long!)]);
    for (const option of d.options) {
      if (!known.has(option)) wrong.push(`${d.file}:${d.line} \`${d.text}\`: ct ${d.path.join(' ')} has no option ${option}`);
    }
  }
  expect(wrong).toEqual([]);
});

it('documents only commands that a test runs', () => {
  const tests = listTests(ROOT).map((f) => readFileSync(f, 'utf8'));
  const leaves = [...new Set(documented.filter((d) => commandAt(d.path)?.commands.length === 0).map((d) => d.path.join(' ')))];
  const list = (words: string[]) => new RegExp(`\\[\\s*${words.map((w) => `'${w}'`).join(',\\s*')}\\s*[,\\]]`);
  // A test runs `ct a b` as runCt(['a', 'b', …]), as a spawned `ct a b` command line, or through a
  // helper of its file that prefixes the group: runCt(['a', ...args]) and then helper(['b', …]).
  const untested = leaves.filter((leaf) => {
    const words = leaf.split(' ');
    return !tests.some(
      (t) =>
        list(words).test(t) || t.includes(`ct ${leaf}`) || (words.length > 1 && list([words[0]!]).test(t) && list(words.slice(1)).test(t)),
    );
  });
  expect(untested).toEqual([]);
});

function listTests(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (['node_modules', 'dist', '.git', 'n8n', '.bench'].includes(entry.name)) continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTests(p));
    else if (/\.(test|spec)\.ts$/.test(entry.name) && p !== __filename) out.push(p);
  }
  return out;
}
