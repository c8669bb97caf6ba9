import type { LRParser } from '@lezer/lr';
import type { SyntaxNode, Tree } from '@lezer/common';

/**
 * Forcing `client="<slug>"` onto every selector of a PromQL expression, the heart of the tenant
 * proxy's isolation.
 *
 * The expression is parsed with Prometheus's own grammar (@prometheus-io/lezer-promql). Every
 * vector selector — alone, inside a range (matrix) selector, a subquery, under `offset` or `@` —
 * is rebuilt from its parts: its metric name, the caller's matchers on any label but `client`, and
 * `client="<slug>"`. Comments are dropped. The result is parsed again and checked on its own: no
 * error, only node types known to be safe, every string literal well formed, and every selector
 * holding exactly one `client` matcher, `client="<slug>"`. Anything else is refused.
 *
 * Adding the matcher is what makes it safe: whatever other matchers a selector keeps, Prometheus
 * ANDs them with `client="<slug>"`, so a selector can only narrow to the client's own series,
 * and series without a `client` label never match. Functions that build series from nothing
 * (`vector()`, `time()`, literals) hold no one's data; `label_replace` and friends can only
 * relabel the client's own samples.
 */

// The package is an ES module with a CommonJS build whose types are declared for `import` only.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parser } = require('@prometheus-io/lezer-promql') as { parser: LRParser };

export type RefusalReason = 'parse_error' | 'unsupported' | 'too_long' | 'not_a_selector';

export class QueryRefused extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
    this.name = 'QueryRefused';
  }
}

/**
 * Every node type a query may contain. A type not listed (a construct a newer grammar adds, or
 * `info()`, which reads info series the query does not name) is refused rather than guessed at.
 */
const SAFE_NODES = new Set([
  'PromQL',
  'LineComment',
  // expressions
  'AggregateExpr',
  'BinaryExpr',
  'FunctionCall',
  'MatrixSelector',
  'NumberDurationLiteral',
  'NumberDurationLiteralInDurationContext',
  'OffsetExpr',
  'ParenExpr',
  'StringLiteral',
  'SubqueryExpr',
  'UnaryExpr',
  'UnaryOp',
  'VectorSelector',
  'StepInvariantExpr',
  // selectors
  'Identifier',
  'LabelMatchers',
  'UnquotedLabelMatcher',
  'QuotedLabelMatcher',
  'QuotedLabelName',
  'LabelName',
  'MatchOp',
  'EqlSingle',
  'EqlRegex',
  'NeqRegex',
  'Neq',
  // aggregations and their modifiers
  'AggregateOp',
  'Avg',
  'Bottomk',
  'Count',
  'CountValues',
  'Group',
  'Max',
  'Min',
  'Quantile',
  'LimitK',
  'LimitRatio',
  'Stddev',
  'Stdvar',
  'Sum',
  'Topk',
  'AggregateModifier',
  'By',
  'Without',
  'GroupingLabels',
  'FunctionCallBody',
  // binary operators and their modifiers
  'Pow',
  'Mul',
  'Div',
  'Mod',
  'Atan2',
  'Add',
  'Sub',
  'Eql',
  'Gte',
  'Gtr',
  'Lte',
  'Lss',
  'TrimUpper',
  'TrimLower',
  'And',
  'Or',
  'Unless',
  'BoolModifier',
  'Bool',
  'MatchingModifierClause',
  'On',
  'Ignoring',
  'GroupLeft',
  'GroupRight',
  'FillModifier',
  'FillClause',
  'FillLeftClause',
  'FillRightClause',
  'Fill',
  'FillLeft',
  'FillRight',
  // durations, offset and @
  'DurationExpr',
  'OffsetDurationExpr',
  'DurationStep',
  'DurationRange',
  'DurationMinOf',
  'DurationMaxOf',
  'Offset',
  'At',
  'AtModifierPreprocessors',
  'AtStart',
  'AtEnd',
  'StartFn',
  'EndFn',
  'inf',
  'nan',
  'AnchoredExpr',
  'Anchored',
  'SmoothedExpr',
  'Smoothed',
  // functions (every one of the grammar but info())
  'FunctionIdentifier',
  ...[
    'AbsentOverTime',
    'Absent',
    'Abs',
    'Acos',
    'Acosh',
    'Asin',
    'Asinh',
    'Atan',
    'Atanh',
    'AvgOverTime',
    'Ceil',
    'Changes',
    'Clamp',
    'ClampMax',
    'ClampMin',
    'Cos',
    'Cosh',
    'CountOverTime',
    'DaysInMonth',
    'DayOfMonth',
    'DayOfWeek',
    'DayOfYear',
    'Deg',
    'Delta',
    'Deriv',
    'Exp',
    'FirstOverTime',
    'Floor',
    'HistogramCount',
    'HistogramFraction',
    'HistogramQuantile',
    'HistogramQuantiles',
    'HistogramStdDev',
    'HistogramStdVar',
    'HistogramSum',
    'HistogramAvg',
    'DoubleExponentialSmoothing',
    'Hour',
    'Idelta',
    'Increase',
    'Irate',
    'LabelReplace',
    'LabelJoin',
    'LastOverTime',
    'Ln',
    'Log10',
    'Log2',
    'MadOverTime',
    'MaxOverTime',
    'MinOverTime',
    'TsOfFirstOverTime',
    'TsOfMaxOverTime',
    'TsOfMinOverTime',
    'TsOfLastOverTime',
    'Minute',
    'Month',
    'Pi',
    'PredictLinear',
    'PresentOverTime',
    'QuantileOverTime',
    'Rad',
    'Rate',
    'Resets',
    'Round',
    'Scalar',
    'Sgn',
    'Sin',
    'Sinh',
    'Sort',
    'SortDesc',
    'SortByLabel',
    'SortByLabelDesc',
    'StartTimestamp',
    'Range',
    'Step',
    'Sqrt',
    'StddevOverTime',
    'StdvarOverTime',
    'SumOverTime',
    'Tan',
    'Tanh',
    'Timestamp',
    'Time',
    'Vector',
    'Year',
  ],
]);

const ENFORCED_LABEL = 'client';
const SLUG = /^[a-z0-9-]{2,40}$/;

/**
 * The value of a PromQL string literal as Prometheus's lexer reads it, or null when Prometheus
 * would not accept it (unterminated, a raw newline, an unknown escape). The grammar's tokenizer is
 * more lenient than Prometheus here (it accepts an unterminated string), so every literal is
 * checked.
 */
export function stringLiteralValue(text: string): string | null {
  const quote = text[0];
  if (text.length < 2 || text[text.length - 1] !== quote) return null;
  const body = text.slice(1, -1);
  if (quote === '`') return body.includes('`') ? null : body;
  if (quote !== '"' && quote !== "'") return null;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '\n' || ch === quote) return null;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const e = body[++i];
    if (e === undefined) return null;
    const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
    if (simple[e] !== undefined) out += simple[e];
    else if (e === quote) out += e;
    else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) return null;
      const cp = parseInt(hex, 16);
      if (e !== 'x' && (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) return null;
      out += e === 'x' ? String.fromCharCode(cp) : String.fromCodePoint(cp);
      i += n;
    } else if (e >= '0' && e <= '7') {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return null;
      out += String.fromCharCode(parseInt(oct, 8));
      i += 2;
    } else return null;
  }
  return out;
}

function parse(query: string): Tree {
  return parser.parse(query);
}

function describeAt(query: string, pos: number): string {
  const line = query.slice(0, pos).split('\n').length;
  const col = pos - query.lastIndexOf('\n', pos - 1);
  const near = query.slice(pos, pos + 20);
  return `line ${line}, column ${col}${near ? ` near ${JSON.stringify(near)}` : ' (end of the expression)'}`;
}

/** Throws QueryRefused unless every node is of a safe type and every string literal is well formed. */
function checkTree(query: string, tree: Tree): void {
  const cursor = tree.cursor();
  do {
    const t = cursor.type;
    if (t.isError) throw new QueryRefused('parse_error', `invalid PromQL at ${describeAt(query, cursor.from)}`);
    if (!SAFE_NODES.has(t.name)) {
      const what = t.name === 'Info' ? 'the info() function' : `${JSON.stringify(query.slice(cursor.from, cursor.to).slice(0, 40))}`;
      throw new QueryRefused('unsupported', `${what} is not supported by the tenant proxy (at ${describeAt(query, cursor.from)})`);
    }
    if (t.name === 'StringLiteral' && stringLiteralValue(query.slice(cursor.from, cursor.to)) === null) {
      throw new QueryRefused('parse_error', `invalid string literal at ${describeAt(query, cursor.from)}`);
    }
  } while (cursor.next());
}

function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

/** The name a label matcher applies to, or null when the quoted name cannot be read. */
function matcherLabel(query: string, matcher: SyntaxNode): string | null {
  const first = matcher.firstChild;
  if (!first) return null;
  if (matcher.name === 'UnquotedLabelMatcher') return query.slice(first.from, first.to);
  const literal = first.firstChild; // QuotedLabelName > StringLiteral
  return literal ? stringLiteralValue(query.slice(literal.from, literal.to)) : null;
}

/** The selector rebuilt: its metric name, the caller's matchers but those on `client`, and ours. */
function rebuildSelector(query: string, selector: SyntaxNode, slug: string): string {
  let name = '';
  const matchers: string[] = [];
  for (const part of children(selector)) {
    if (part.name === 'Identifier') name = query.slice(part.from, part.to);
    else if (part.name === 'LabelMatchers') {
      for (const m of children(part)) {
        if (m.name === 'LineComment') continue;
        if (m.name === 'QuotedLabelName') {
          // `{"metric.name"}`: a metric name in the quoted (UTF-8) syntax.
          matchers.push(query.slice(m.from, m.to));
          continue;
        }
        if (m.name !== 'UnquotedLabelMatcher' && m.name !== 'QuotedLabelMatcher') {
          throw new QueryRefused('unsupported', `unexpected ${m.name} in a selector at ${describeAt(query, m.from)}`);
        }
        const label = matcherLabel(query, m);
        if (label === null) throw new QueryRefused('parse_error', `unreadable label name at ${describeAt(query, m.from)}`);
        if (label === ENFORCED_LABEL) continue;
        // Kept verbatim, parts joined without the comments or spaces between them.
        matchers.push(
          children(m)
            .filter((c) => c.name !== 'LineComment')
            .map((c) => query.slice(c.from, c.to))
            .join(''),
        );
      }
    } else if (part.name !== 'LineComment') {
      throw new QueryRefused('unsupported', `unexpected ${part.name} in a selector at ${describeAt(query, part.from)}`);
    }
  }
  matchers.push(`${ENFORCED_LABEL}="${slug}"`);
  return `${name}{${matchers.join(',')}}`;
}

/** Every vector selector of a tree (they never nest). */
function selectors(tree: Tree): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  tree.iterate({
    enter(n) {
      if (n.name === 'VectorSelector') {
        out.push(n.node);
        return false;
      }
      return undefined;
    },
  });
  return out;
}

function comments(tree: Tree): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  tree.iterate({
    enter(n) {
      if (n.name === 'LineComment') out.push({ from: n.from, to: n.to });
    },
  });
  return out;
}

/** Proves, on the rewritten text alone, that every selector holds exactly `client="<slug>"`. */
function verifyEnforced(query: string, slug: string): void {
  const tree = parse(query);
  checkTree(query, tree);
  for (const sel of selectors(tree)) {
    const ours = (sel.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []).concat(
      sel.getChild('LabelMatchers')?.getChildren('QuotedLabelMatcher') ?? [],
    );
    const onClient = ours.filter((m) => matcherLabel(query, m) === ENFORCED_LABEL);
    const text = onClient.length === 1 ? query.slice(onClient[0]!.from, onClient[0]!.to) : '';
    if (onClient.length !== 1 || onClient[0]!.name !== 'UnquotedLabelMatcher' || text !== `${ENFORCED_LABEL}="${slug}"`) {
      throw new QueryRefused('unsupported', `the client matcher could not be enforced at ${describeAt(query, sel.from)}`);
    }
  }
}

export interface EnforceOptions {
  /** Longest expression accepted, in characters. */
  maxLength?: number;
}

/**
 * Returns `query` with `client="<slug>"` forced onto every vector and matrix selector (the
 * caller's `client` matchers replaced, comments removed), or throws QueryRefused with a message
 * for the caller.
 */
export function enforceClient(query: string, slug: string, opts: EnforceOptions = {}): string {
  if (!SLUG.test(slug)) throw new Error(`not a client slug: ${JSON.stringify(slug)}`);
  const maxLength = opts.maxLength ?? 16_384;
  if (query.length > maxLength) {
    throw new QueryRefused('too_long', `the expression is ${query.length} characters long; the limit is ${maxLength}`);
  }
  if (query.trim() === '') throw new QueryRefused('parse_error', 'the expression is empty');
  const tree = parse(query);
  checkTree(query, tree);
  const edits: { from: number; to: number; text: string }[] = [];
  const sels = selectors(tree);
  for (const sel of sels) edits.push({ from: sel.from, to: sel.to, text: rebuildSelector(query, sel, slug) });
  for (const c of comments(tree)) {
    if (!sels.some((s) => c.from >= s.from && c.to <= s.to)) edits.push({ ...c, text: '' });
  }
  edits.sort((a, b) => a.from - b.from);
  let out = '';
  let at = 0;
  for (const e of edits) {
    out += query.slice(at, e.from) + e.text;
    at = e.to;
  }
  out += query.slice(at);
  verifyEnforced(out, slug);
  return out;
}

/**
 * A series selector (the `match[]` of the series, labels and label values endpoints) with
 * `client="<slug>"` forced onto it. Anything but one vector selector is refused.
 */
export function enforceClientSelector(selector: string, slug: string, opts: EnforceOptions = {}): string {
  const out = enforceClient(selector, slug, opts);
  const tree = parse(out);
  const top = tree.topNode.firstChild;
  if (!top || top.name !== 'VectorSelector' || top.nextSibling) {
    throw new QueryRefused(
      'not_a_selector',
      `match[] must be a series selector such as metric{label="value"}, got ${JSON.stringify(selector.slice(0, 80))}`,
    );
  }
  return out.trim();
}
