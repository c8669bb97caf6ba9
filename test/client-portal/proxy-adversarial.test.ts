import { call, startProxyBench, VICTIM_FLOOR, type ProxyAnswer, type ProxyBench } from './proxy-fixture';

/**
 * The tenant proxy against a corpus of attempts to read another client's data, through the real
 * proxy and the real Prometheus, as client `alpha` (the attacker) with three victims and
 * platform series without a `client` label beside it. For every attempt: no 5xx, no victim or
 * platform marker anywhere in the answer, no sample value of theirs (every series' labels and
 * values are checked), no `client` label but the attacker's or one the query itself wrote, and —
 * where the attempt counts or tests for series — the same answer as the honest query on the
 * attacker's own series, run straight against Prometheus.
 */

let bench: ProxyBench;
let at: number;

beforeAll(async () => {
  bench = await startProxyBench();
  at = Math.floor(Date.now() / 1000) - 2;
}, 120_000);

afterAll(async () => {
  await bench?.stop();
}, 60_000);

type Expect = 'ok' | 'refused' | 'any';

interface Ctx {
  A: string;
  B: string;
  C: string;
  D: string;
  T: number;
}
type Lazy = (x: Ctx) => string;

interface Attempt {
  name: string;
  /** Path and query string; $A is the attacker's slug, $B $C $D the victims', $T the query time. */
  path: Lazy;
  method?: 'GET' | 'POST';
  /** A form body. */
  form?: Lazy;
  expect: Expect;
  /** An honest query on the attacker's own series that must give the same instant-vector answer. */
  sameAs?: string;
  /** The answer's data must equal this ($A is the attacker's slug), for label lists. */
  data?: unknown;
}

/** Puts the slugs and times in, before any encoding. */
const sub = (s: string, x: Ctx) =>
  s
    .replace(/\$T-30/g, String(x.T - 30))
    .replace(/\$T-60/g, String(x.T - 60))
    .replace(/\$([ABCDT])/g, (_m, k: keyof Ctx) => String(x[k]));
const enc = (s: string, x: Ctx) => encodeURIComponent(sub(s, x));
const raw =
  (path: string): Lazy =>
  (x) =>
    sub(path, x);
const q =
  (expr: string, extra = ''): Lazy =>
  (x) =>
    `/api/v1/query?query=${enc(expr, x)}&time=${x.T}${extra}`;
const qr =
  (expr: string): Lazy =>
  (x) =>
    `/api/v1/query_range?query=${enc(expr, x)}&start=${x.T - 30}&end=${x.T}&step=5`;
const m =
  (...sel: string[]): Lazy =>
  (x) =>
    sel.map((s) => `match[]=${enc(s, x)}`).join('&');
const withM =
  (path: string, ...sel: string[]): Lazy =>
  (x) =>
    `${path}?${m(...sel)(x)}`;
const form =
  (fields: [string, string][]): Lazy =>
  (x) =>
    fields.map(([k, v]) => `${k}=${enc(v, x)}`).join('&');

const ATTEMPTS: Attempt[] = [
  // Every series, every way
  { name: 'all series by __name__ regex', path: q('{__name__=~".+"}'), expect: 'ok' },
  { name: 'all series by __name__ .*', path: q('{__name__=~".*"}'), expect: 'ok' },
  { name: 'all series by a client regex', path: q('{client=~".+"}'), expect: 'ok' },
  { name: 'negative matcher on client', path: q('{client!="$A"}'), expect: 'ok' },
  { name: 'negative regex on client', path: q('ct_workflow_executions_total{client!~"$A"}'), expect: 'ok' },
  { name: 'regex naming the victims', path: q('{client=~"$B|$C|$D"}'), expect: 'ok' },
  { name: 'equality on a victim', path: q('ct_workflow_executions_total{client="$B"}'), expect: 'ok' },
  { name: 'duplicate client matchers', path: q('ct_workflow_executions_total{client="$A",client="$B"}'), expect: 'ok' },
  { name: 'duplicate client matchers, regex second', path: q('ct_workflow_executions_total{client="$B",client=~".*"}'), expect: 'ok' },
  { name: 'empty client: series without the label', path: q('{client="",__name__=~".+"}'), expect: 'ok' },
  { name: 'platform series by name', path: q('ct_platform_secret'), expect: 'ok' },
  { name: 'platform series by __name__', path: q('{__name__="ct_platform_secret"}'), expect: 'ok' },
  { name: 'up of every target', path: q('up'), expect: 'ok' },
  { name: 'victim-only metric', path: q('ct_private_marker'), expect: 'ok' },
  { name: 'uppercase Client label is another label', path: q('ct_workflow_executions_total{Client="$B"}'), expect: 'ok' },
  // Set operators and vector matching with series that lack the label
  { name: 'or with platform series', path: q('ct_workflow_executions_total or ct_platform_secret'), expect: 'ok' },
  { name: 'or on() with up', path: q('ct_workflow_executions_total or on() up'), expect: 'ok' },
  { name: 'or with a victim selector', path: q('ct_client_hours_saved or ct_private_marker{client="$B"}'), expect: 'ok' },
  { name: 'unless on() with platform series', path: q('ct_workflow_executions_total unless on() ct_platform_secret'), expect: 'ok' },
  { name: 'and on() with victim series', path: q('ct_client_hours_saved and on() ct_private_marker{client="$B"}'), expect: 'ok' },
  {
    name: 'group_left from platform series',
    path: q('ct_client_hours_saved * on() group_left(component) ct_platform_secret'),
    expect: 'ok',
  },
  {
    name: 'group_left from a victim',
    path: q('ct_workflow_active + on(status) group_left(name) ct_workflow_active{client="$B"}'),
    expect: 'any',
  },
  { name: 'group_right from up', path: q('up * on() group_right ct_client_hours_saved'), expect: 'ok' },
  { name: 'vector(1) joined to victim series', path: q('vector(1) + on() group_left(secret) ct_private_marker'), expect: 'ok' },
  // Forging the label
  { name: 'label_replace forging a victim label', path: q('label_replace(ct_client_hours_saved, "client", "$B", "", "")'), expect: 'ok' },
  { name: 'label_replace on victim series', path: q('label_replace({client="$B"}, "client", "$A", "", "")'), expect: 'ok' },
  { name: 'label_replace on platform series', path: q('label_replace(ct_platform_secret, "client", "$A", "", "")'), expect: 'ok' },
  { name: 'label_join into client', path: q('label_join(ct_private_marker, "client", "", "secret")'), expect: 'ok' },
  { name: 'label_replace inside or', path: q('label_replace(up, "client", "$A", "", "") or ct_client_hours_saved'), expect: 'ok' },
  // Subqueries, offset, @
  { name: 'subquery on a victim', path: q('max_over_time(ct_workflow_executions_total{client="$B"}[30s:1s])'), expect: 'ok' },
  { name: 'rate over a subquery of everything', path: q('rate({__name__=~".+",client="$B"}[20s:2s])'), expect: 'ok' },
  { name: 'subquery of platform series or literal', path: q('sum_over_time((ct_platform_secret or vector(0))[20s:5s])'), expect: 'ok' },
  { name: 'nested subqueries', path: q('max_over_time(rate(ct_workflow_executions_total{client=~".+"}[10s:1s])[20s:2s])'), expect: 'ok' },
  { name: 'offset', path: q('ct_workflow_executions_total{client="$B"} offset 5s'), expect: 'ok' },
  { name: 'negative offset', path: q('{__name__=~".+"} offset -5s'), expect: 'ok' },
  { name: '@ end()', path: q('ct_workflow_executions_total{client="$B"} @ end()'), expect: 'ok' },
  { name: '@ timestamp with offset', path: q('ct_private_marker @ $T offset 2s'), expect: 'ok' },
  {
    name: 'rate with offset and @ start()',
    path: q('rate(ct_workflow_executions_total{client="$B"}[10s] offset 2s @ start())'),
    expect: 'ok',
  },
  { name: 'range selector as an instant query', path: q('ct_workflow_executions_total{client="$B"}[10s]'), expect: 'ok' },
  // Existence oracles and counting
  {
    name: 'absent() on a victim series',
    path: q('absent(ct_private_marker{client="$B"})'),
    expect: 'ok',
    sameAs: 'absent(ct_private_marker{client="$A"})',
  },
  {
    name: 'absent_over_time() on platform series',
    path: q('absent_over_time(ct_platform_secret[1m])'),
    expect: 'ok',
    sameAs: 'absent_over_time(ct_platform_secret{client="$A"}[1m])',
  },
  {
    name: 'count by (client)',
    path: q('count by (client) ({__name__=~".+"})'),
    expect: 'ok',
    sameAs: 'count by (client) ({__name__=~".+",client="$A"})',
  },
  { name: 'count of everything', path: q('count({__name__=~".+"})'), expect: 'ok', sameAs: 'count({__name__=~".+",client="$A"})' },
  { name: 'count of up', path: q('count(up)'), expect: 'ok', sameAs: 'count(up{client="$A"})' },
  {
    name: 'count by (__name__)',
    path: q('count by (__name__) ({__name__=~".+"})'),
    expect: 'ok',
    sameAs: 'count by (__name__) ({__name__=~".+",client="$A"})',
  },
  { name: 'count by (job)', path: q('count by (job) ({client=""})'), expect: 'ok', sameAs: 'count by (job) ({client="$A"})' },
  { name: 'count_values into client', path: q('count_values("client", ct_workflow_executions_total)'), expect: 'ok' },
  {
    name: 'group by (client, __name__)',
    path: q('group by (client, __name__) ({client!=""})'),
    expect: 'ok',
    sameAs: 'group by (client, __name__) ({client="$A"})',
  },
  { name: 'topk over everything', path: q('topk(1000, {__name__=~".+"})'), expect: 'ok' },
  { name: 'sum by (client, secret)', path: q('sort_desc(sum by (client, secret) ({__name__=~"ct_.*"}))'), expect: 'ok' },
  { name: 'scalar() of a victim series', path: q('scalar(ct_private_marker{client="$B"})'), expect: 'ok' },
  { name: 'quantile_over_time over everything', path: q('quantile_over_time(0.5, {__name__=~".+"}[20s])'), expect: 'ok' },
  {
    name: 'timestamp() of platform series',
    path: q('timestamp(ct_platform_secret)'),
    expect: 'ok',
    sameAs: 'timestamp(ct_platform_secret{client="$A"})',
  },
  // Comments, escapes, odd spellings
  { name: 'comment hiding a selector', path: q('{__name__=~".+"} # or {client="$B"}'), expect: 'ok' },
  { name: 'comment then a new line', path: q('ct_client_hours_saved # x\n or {client="$B"}'), expect: 'ok' },
  { name: 'comment inside the braces', path: q('ct_workflow_executions_total{ # c\n client="$B"}'), expect: 'ok' },
  { name: 'quoted label name', path: q('{"client"="$B", __name__=~".+"}'), expect: 'any' },
  { name: 'unicode escape in a quoted label name', path: q('{"cl\\u0069ent"="$B", __name__=~".+"}'), expect: 'any' },
  { name: 'unicode escape in the value', path: q('ct_workflow_executions_total{client="\\u0062"}'), expect: 'ok' },
  { name: 'hex escape in a regex', path: q('ct_workflow_executions_total{client=~"\\x2e+"}'), expect: 'ok' },
  { name: 'raw string regex', path: q('ct_workflow_executions_total{client=~`.+`}'), expect: 'ok' },
  { name: 'single-quoted value', path: q("ct_workflow_executions_total{client='$B'}"), expect: 'ok' },
  { name: 'unterminated string hiding a selector', path: q('ct_client_hours_saved{x="a\n} or {__name__=~".+"}'), expect: 'refused' },
  { name: 'unknown escape', path: q('ct_client_hours_saved{x="\\q"} or {client="$B"}'), expect: 'refused' },
  { name: 'info() pulling other series', path: q('info(ct_client_hours_saved)'), expect: 'refused' },
  { name: 'parse error', path: q('ct_workflow_executions_total{client="$B"'), expect: 'refused' },
  { name: 'garbage', path: q(')({}'), expect: 'refused' },
  { name: 'NUL byte', path: q('ct_client_hours_saved\u0000 or {client="$B"}'), expect: 'refused' },
  { name: 'non-breaking space as separator', path: q('ct_client_hours_saved\u00a0or {client="$B"}'), expect: 'any' },
  {
    name: 'double URL-encoding',
    path: (x) => `/api/v1/query?query=${encodeURIComponent(encodeURIComponent('{__name__=~".+"}'))}&time=${x.T}`,
    expect: 'refused',
  },
  {
    name: 'query given twice in the URL',
    path: (x) => `${q('ct_client_hours_saved')(x)}&query=${enc('{client="$B"}', x)}`,
    expect: 'refused',
  },
  {
    name: 'oversized query',
    path: raw('/api/v1/query'),
    form: form([['query', `ct_client_hours_saved or ${'{client="$B"} or '.repeat(2000)}up`]]),
    expect: 'refused',
  },
  { name: 'oversized URL', path: q(`ct_client_hours_saved${' '.repeat(40_000)}`), expect: 'refused' },
  {
    name: 'oversized body',
    path: raw('/api/v1/query'),
    form: form([
      ['query', 'up'],
      ['pad', 'x'.repeat(100_000)],
    ]),
    expect: 'refused',
  },
  {
    name: 'many selectors',
    path: raw('/api/v1/query'),
    form: form([
      ['query', Array.from({ length: 150 }, () => '{client="$B"}').join(' or ')],
      ['time', '$T'],
    ]),
    expect: 'ok',
  },
  // The grammar's parser gives up on very long operator chains: refused, never half-enforced.
  {
    name: 'an operator chain longer than the parser takes',
    path: raw('/api/v1/query'),
    form: form([['query', Array.from({ length: 400 }, () => '{client="$B"}').join(' or ')]]),
    expect: 'refused',
  },
  { name: 'deep nesting', path: q(`${'('.repeat(2000)}{client="$B"}${')'.repeat(2000)}`), expect: 'any' },
  { name: 'timeout raised far beyond the limit', path: q('{client="$B"}', '&timeout=1000h'), expect: 'ok' },
  { name: 'invalid timeout', path: q('{client="$B"}', '&timeout=soon'), expect: 'refused' },
  // POST bodies
  {
    name: 'POST form: everything',
    path: raw('/api/v1/query'),
    form: form([
      ['query', '{__name__=~".+"}'],
      ['time', '$T'],
    ]),
    expect: 'ok',
  },
  {
    name: 'POST form: query in the URL and in the body',
    path: q('ct_client_hours_saved'),
    form: form([['query', '{client="$B"}']]),
    expect: 'refused',
  },
  {
    name: 'POST form: query twice in the body',
    path: raw('/api/v1/query'),
    form: form([
      ['query', 'ct_client_hours_saved'],
      ['query', '{client="$B"}'],
    ]),
    expect: 'refused',
  },
  { name: 'POST JSON body', path: raw('/api/v1/query'), method: 'POST', expect: 'refused' },
  {
    name: 'POST range query: everything',
    path: raw('/api/v1/query_range'),
    form: form([
      ['query', '{__name__=~".+"}'],
      ['start', '$T-30'],
      ['end', '$T'],
      ['step', '5'],
    ]),
    expect: 'ok',
  },
  { name: 'range query: victim subquery', path: qr('max_over_time({client="$B"}[10s:1s])'), expect: 'ok' },
  { name: 'range query: platform or up', path: qr('ct_platform_secret or up'), expect: 'ok' },
  // Series, labels and label values with crafted match[]
  { name: 'series: every series', path: withM('/api/v1/series', '{__name__=~".+"}'), expect: 'ok' },
  { name: 'series: a victim', path: withM('/api/v1/series', '{client="$B"}'), expect: 'ok' },
  { name: 'series: up', path: withM('/api/v1/series', 'up'), expect: 'ok' },
  { name: 'series: without match[]', path: raw('/api/v1/series'), expect: 'ok' },
  { name: 'series: own and victim selectors', path: withM('/api/v1/series', 'ct_client_hours_saved', '{client=~"$B|$C"}'), expect: 'ok' },
  {
    name: 'series: an expression as match[]',
    path: withM('/api/v1/series', 'ct_client_hours_saved or ct_platform_secret'),
    expect: 'refused',
  },
  { name: 'series: a function as match[]', path: withM('/api/v1/series', 'label_replace(up, "client", "$A", "", "")'), expect: 'refused' },
  { name: 'series: POST body', path: raw('/api/v1/series'), form: m('{__name__=~".+"}', '{client=""}'), expect: 'ok' },
  { name: 'series: too many match[]', path: withM('/api/v1/series', ...Array.from({ length: 30 }, () => 'up')), expect: 'refused' },
  { name: 'labels: without match[]', path: raw('/api/v1/labels'), expect: 'ok' },
  { name: 'labels: every client', path: withM('/api/v1/labels', '{client=~".+"}'), expect: 'ok' },
  { name: 'labels: platform series', path: withM('/api/v1/labels', '{client=""}'), expect: 'ok' },
  { name: 'labels: POST body', path: raw('/api/v1/labels'), form: m('ct_private_marker'), expect: 'ok', data: [] },
  { name: 'values of client', path: raw('/api/v1/label/client/values'), expect: 'ok', data: ['$A'] },
  { name: 'values of client, victim match[]', path: withM('/api/v1/label/client/values', '{client="$B"}'), expect: 'ok', data: ['$A'] },
  { name: 'values of a victim-only label', path: raw('/api/v1/label/secret/values'), expect: 'ok', data: [] },
  { name: 'values of a platform-only label', path: withM('/api/v1/label/component/values', '{__name__=~".+"}'), expect: 'ok', data: [] },
  { name: 'values of job', path: raw('/api/v1/label/job/values'), expect: 'ok', data: ['clients'] },
  { name: 'values of __name__', path: withM('/api/v1/label/__name__/values', '{__name__=~".+"}'), expect: 'ok' },
  { name: 'values: label name with a slash', path: raw('/api/v1/label/client%2F..%2Fseries/values'), expect: 'refused' },
  { name: 'values: encoded label name', path: raw('/api/v1/label/%63lient/values'), expect: 'ok', data: ['$A'] },
  // Exemplars and metadata
  {
    name: 'exemplars: everything',
    path: (x) => `/api/v1/query_exemplars?query=${enc('{__name__=~".+"}', x)}&start=${x.T - 60}&end=${x.T}`,
    expect: 'ok',
  },
  {
    name: 'exemplars: a victim',
    path: (x) => `/api/v1/query_exemplars?query=${enc('ct_workflow_executions_total{client="$B"}', x)}&start=${x.T - 60}&end=${x.T}`,
    expect: 'ok',
  },
  { name: 'metadata: everything', path: raw('/api/v1/metadata'), expect: 'ok' },
  { name: 'metadata: a victim-only metric', path: raw('/api/v1/metadata?metric=ct_private_marker'), expect: 'ok', data: {} },
  { name: 'metadata: a platform metric', path: raw('/api/v1/metadata?metric=ct_platform_secret'), expect: 'ok', data: {} },
  // What the proxy does not serve
  { name: 'federate', path: withM('/federate', '{__name__=~".+"}'), expect: 'refused' },
  { name: 'remote read', path: raw('/api/v1/read'), method: 'POST', expect: 'refused' },
  { name: 'targets', path: raw('/api/v1/targets'), expect: 'refused' },
  { name: 'rules', path: raw('/api/v1/rules'), expect: 'refused' },
  { name: 'alerts', path: raw('/api/v1/alerts'), expect: 'refused' },
  { name: 'TSDB status', path: raw('/api/v1/status/tsdb'), expect: 'refused' },
  { name: 'configuration', path: raw('/api/v1/status/config'), expect: 'refused' },
  { name: 'admin: delete series', path: withM('/api/v1/admin/tsdb/delete_series', '{__name__=~".+"}'), method: 'POST', expect: 'refused' },
  { name: 'admin: snapshot', path: raw('/api/v1/admin/tsdb/snapshot'), method: 'POST', expect: 'refused' },
  { name: 'path traversal to federate', path: raw('/api/v1/../../federate'), expect: 'refused' },
  { name: 'encoded path to targets', path: raw('/api/v1/%74argets'), expect: 'refused' },
  { name: 'the web UI', path: raw('/graph'), expect: 'refused' },
];

interface Series {
  metric?: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

function ctx(): Ctx {
  const [A, B, C, D] = [bench.attacker, ...bench.victims].map((x) => x.slug) as [string, string, string, string];
  return { A, B, C, D, T: at };
}

/** What the victims' and the platform's data would look like in an answer. */
function leaks(requestText: string, answer: ProxyAnswer): string[] {
  const found: string[] = [];
  const markers = [...bench.victims.flatMap((v) => [...v.markers, v.slug]), ...bench.platformMarkers];
  for (const marker of markers) {
    // A slug the request itself wrote (label_replace) may come back; random markers never may.
    if (requestText.includes(marker)) continue;
    if (answer.text.includes(marker)) found.push(`marker ${marker} in the answer`);
  }
  const victimSlugs = bench.victims.map((v) => v.slug);
  const checkValue = (v: string | number, where: string) => {
    const n = Number(v);
    if (Number.isFinite(n) && Math.abs(n) >= VICTIM_FLOOR) found.push(`value ${v} (${where})`);
  };
  const checkLabels = (labels: Record<string, string> | undefined, where: string) => {
    const client = labels?.client;
    // Another client's slug, unless the query wrote it itself (label_replace); count_values may
    // put the attacker's own values there.
    if (client !== undefined && victimSlugs.includes(client) && !requestText.includes(client)) found.push(`client="${client}" (${where})`);
  };
  const data = (answer.json as { data?: unknown } | undefined)?.data;
  const shaped = data as { resultType?: string; result?: unknown } | undefined;
  if (shaped?.resultType === 'vector' || shaped?.resultType === 'matrix') {
    for (const s of shaped.result as Series[]) {
      const where = JSON.stringify(s.metric);
      checkLabels(s.metric, where);
      if (s.value) checkValue(s.value[1], where);
      for (const [, v] of s.values ?? []) checkValue(v, where);
    }
  }
  if (shaped?.resultType === 'scalar') checkValue((shaped.result as [number, string])[1], 'scalar');
  if (Array.isArray(data)) {
    for (const item of data as unknown[]) {
      if (item && typeof item === 'object' && 'seriesLabels' in item) {
        const ex = item as { seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string>; value: string }[] };
        checkLabels(ex.seriesLabels, 'exemplar series');
        for (const e of ex.exemplars) checkValue(e.value, `exemplar ${JSON.stringify(e.labels)}`);
      } else if (item && typeof item === 'object') checkLabels(item as Record<string, string>, `series ${JSON.stringify(item)}`);
    }
  }
  return found;
}

async function direct(expr: string): Promise<unknown> {
  const res = await fetch(`${bench.prometheus.url}/api/v1/query?query=${encodeURIComponent(expr)}&time=${at}`);
  return ((await res.json()) as { data: { result: unknown } }).data.result;
}

const byLabels = (r: unknown) => (r as Series[]).map((s) => JSON.stringify([Object.entries(s.metric ?? {}).sort(), s.value?.[1]])).sort();

it('holds at least 60 attempts', () => {
  expect(ATTEMPTS.length).toBeGreaterThanOrEqual(60);
  expect(new Set(ATTEMPTS.map((a) => a.name)).size).toBe(ATTEMPTS.length);
});

describe.each(ATTEMPTS.map((a) => [a.name, a] as const))('%s', (_name, attempt) => {
  it('returns nothing of another client, and no 5xx', async () => {
    const x = ctx();
    const path = attempt.path(x);
    const json = attempt.name === 'POST JSON body' ? JSON.stringify({ query: '{__name__=~".+"}' }) : undefined;
    const body = attempt.form ? attempt.form(x) : json;
    const answer = await call(bench.proxy.url, path, {
      token: bench.attacker.token,
      method: attempt.method,
      ...(attempt.form !== undefined ? { form: body } : body ? { body, headers: { 'Content-Type': 'application/json' } } : {}),
    });
    const requestText = decodeURIComponent(path.replace(/\+/g, ' ')) + (body ? decodeURIComponent(body) : '');
    expect({ status: answer.status < 500, leaks: leaks(requestText, answer) }).toEqual({ status: true, leaks: [] });
    if (attempt.expect === 'ok') expect({ status: answer.status, body: answer.text.slice(0, 300) }).toMatchObject({ status: 200 });
    if (attempt.expect === 'refused') expect(answer.status).toBeGreaterThanOrEqual(400);
    // Node itself refuses request heads over 16 KiB (431), before the proxy sees them.
    if (answer.status >= 400 && answer.status !== 431) {
      const err = answer.json as { status: string; error: string };
      expect(err.status).toBe('error');
      expect(err.error.length).toBeGreaterThan(5);
    }
    if (attempt.sameAs) {
      const honest = await direct(sub(attempt.sameAs, x));
      expect(byLabels((answer.json as { data: { result: unknown } }).data.result)).toEqual(byLabels(honest));
    }
    if (attempt.data !== undefined) {
      const expected = JSON.parse(sub(JSON.stringify(attempt.data), x));
      expect((answer.json as { data: unknown }).data).toEqual(expected);
    }
  });
});

it('gives the attacker its own data: the corpus is not passing by returning nothing', async () => {
  const answer = await call(bench.proxy.url, `/api/v1/query?query=${encodeURIComponent('{__name__=~".+"}')}&time=${at}`, {
    token: bench.attacker.token,
  });
  const result = (answer.json as { data: { result: Series[] } }).data.result;
  expect(result.length).toBeGreaterThanOrEqual(4);
  expect(new Set(result.map((s) => s.metric?.client))).toEqual(new Set([bench.attacker.slug]));
  expect(answer.text).toContain(bench.attacker.slug);
  // And the same Prometheus holds the victims' and the platform's series.
  const all = (await direct('count by (client) ({__name__=~".+"})')) as Series[];
  expect(all.length).toBe(5);
});
