/**
 * Summary of a V8 CPU profile (`node --cpu-prof`): self time by category and the functions that
 * take most of it. Used by `BENCH_API_PROFILE=1 npm run bench:api`; also runnable on its own:
 *   npx tsx api/bench/cpu-profile.ts <file.cpuprofile>
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  /** Wall time covered by the profile, ms. */
  wallMs: number;
  /** Time the main thread was not idle, ms. */
  busyMs: number;
  categories: { name: string; ms: number }[];
  packages: { name: string; ms: number }[];
  top: { fn: string; where: string; category: string; ms: number }[];
}

const PACKAGE = /node_modules\/((?:@[^/]+\/)?[^/]+)\//;
const CATEGORIES: [string, (fn: string, url: string, pkg: string | undefined) => boolean][] = [
  ['idle', (fn) => fn === '(idle)'],
  ['garbage collection', (fn) => fn === '(garbage collector)'],
  [
    'module loading (start-up, or lazily on first use)',
    (fn, url, pkg) =>
      /^node:internal\/(modules|bootstrap)\//.test(url) ||
      pkg === 'tsx' ||
      /^(wrapSafe|internalModuleStat|internalModuleReadJSON|readFileUtf8|compileFunction)$/.test(fn),
  ],
  [
    'HMAC and crypto',
    (fn, url) => url.startsWith('node:internal/crypto') || url === 'node:crypto' || /^(Hmac|digest|timingSafeEqual)$/.test(fn),
  ],
  ['JSON and zod (parse, validate, serialise)', (fn, url, pkg) => pkg === 'zod' || (!url && /^(parse|stringify|JSON\w*)$/.test(fn))],
  ['pg (driver, pool, protocol)', (_fn, _url, pkg) => !!pkg && /^(pg|pg-.*|postgres-.*|pgpass)$/.test(pkg)],
  ['prom-client', (_fn, _url, pkg) => pkg === 'prom-client' || pkg === 'tdigest' || pkg === 'bintrees'],
  [
    'logging (pino)',
    (_fn, _url, pkg) =>
      !!pkg && /^(pino.*|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|safe-stable-stringify|on-exit-leak-free)$/.test(pkg),
  ],
  ['express, its router and middleware packages (helmet, cors, rate limit, body reading…)', (_fn, _url, pkg) => !!pkg],
  ['the API and lib code (webhooks.ts, middleware.ts, event-batcher.ts…)', (_fn, url) => /\/(api|lib)\/(dist|src)\//.test(url)],
  [
    'Node http, net, streams, timers, events (socket writes included)',
    (fn, url) => url.startsWith('node:') || (!url && /^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString)$/.test(fn)),
  ],
  ['(program): V8 and native work not attributed to a function', (fn) => fn === '(program)'],
  ['other native (sockets, buffers, builtins)', () => true],
];

/**
 * Self time per category and function; `window` (ms from the start of the profile, which starts
 * with the process) keeps only the samples of the load, without the start-up.
 */
export function summariseProfile(file: string, window: { fromMs?: number; toMs?: number } = {}): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const from = window.fromMs ?? 0;
  const to = window.toMs ?? Infinity;
  let at = 0; // ms since startTime
  let first = Infinity;
  let last = 0;
  // timeDeltas[i] is the time before sample i; the time after it is the next one's delta.
  for (let i = 0; i < p.samples.length; i++) {
    at += (p.timeDeltas[i] ?? 0) / 1000;
    if (at < from || at > to) continue;
    first = Math.min(first, at);
    last = at;
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  const categories = new Map<string, number>();
  const packages = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; category: string; ms: number }>();
  for (const [id, ms] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const fn = functionName || '(anonymous)';
    const pkg = PACKAGE.exec(url)?.[1];
    const category = CATEGORIES.find(([, test]) => test(fn, url, pkg))![0];
    categories.set(category, (categories.get(category) ?? 0) + ms);
    if (pkg) packages.set(pkg, (packages.get(pkg) ?? 0) + ms);
    const where = url ? `${url.replace(/^.*node_modules\//, '').replace(/^.*\/(api|lib)\/(dist|src)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${fn}@${where}`;
    const f = fns.get(key) ?? { fn, where, category, ms: 0 };
    f.ms += ms;
    fns.set(key, f);
  }
  const sorted = <T extends { ms: number }>(xs: Iterable<T>) => [...xs].sort((a, b) => b.ms - a.ms);
  const wallMs = Number.isFinite(first) ? last - first : 0;
  return {
    wallMs,
    busyMs: wallMs - (categories.get('idle') ?? 0),
    categories: sorted([...categories].map(([name, ms]) => ({ name, ms }))),
    packages: sorted([...packages].map(([name, ms]) => ({ name, ms }))),
    top: sorted(fns.values())
      .filter((f) => f.category !== 'idle')
      .slice(0, 20),
  };
}

/** The summary as text: categories with their share of the busy time, then the top functions. */
export function formatProfile(s: ProfileSummary, perEvent?: number): string {
  const pct = (ms: number) => `${((100 * ms) / s.busyMs).toFixed(1)} %`;
  const lines = [
    `CPU profile: ${(s.wallMs / 1000).toFixed(1)} s of wall time under load, main thread busy ${(s.busyMs / 1000).toFixed(1)} s${
      perEvent ? ` (${((s.busyMs * 1000) / perEvent).toFixed(0)} µs per answered post)` : ''
    }`,
    '  self time by category:',
    ...s.categories
      .filter((c) => c.name !== 'idle')
      .map((c) => `    ${(c.ms / 1000).toFixed(2).padStart(7)} s  ${pct(c.ms).padStart(7)}  ${c.name}`),
    '  packages (self time):',
    ...s.packages.slice(0, 12).map((c) => `    ${(c.ms / 1000).toFixed(2).padStart(7)} s  ${pct(c.ms).padStart(7)}  ${c.name}`),
    '  top functions (self time):',
    ...s.top.map((f) => `    ${(f.ms / 1000).toFixed(2).padStart(7)} s  ${pct(f.ms).padStart(7)}  ${f.fn} ${f.where}`),
  ];
  return lines.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: cpu-profile.ts <file.cpuprofile>');
  process.stdout.write(`${formatProfile(summariseProfile(file))}\n`);
}
