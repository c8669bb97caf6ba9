import { enforceClient, enforceClientSelector, QueryRefused, stringLiteralValue } from './promql';

const S = 'pizza-co';
const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof QueryRefused) return { reason: err.reason, message: err.message };
    throw err;
  }
  throw new Error('not refused');
};

describe('enforceClient', () => {
  it.each([
    ['up', 'up{client="pizza-co"}'],
    ['{__name__=~".+"}', '{__name__=~".+",client="pizza-co"}'],
    ['foo{client="other",a!~"x"}', 'foo{a!~"x",client="pizza-co"}'],
    ['foo{client=~".+",client!=""}', 'foo{client="pizza-co"}'],
    ['rate(foo[5m] offset 1h @ start())', 'rate(foo{client="pizza-co"}[5m] offset 1h @ start())'],
    ['max_over_time(foo[1h:1m])', 'max_over_time(foo{client="pizza-co"}[1h:1m])'],
    ['a or on() group_left b', 'a{client="pizza-co"} or on() group_left b{client="pizza-co"}'],
    ['sum by (client) (x) # comment {client="b"}', 'sum by (client) (x{client="pizza-co"}) '],
    ['{"client"="b", "metric.name"}', '{"metric.name",client="pizza-co"}'],
    ['{"cl\\u0069ent"="b"}', '{client="pizza-co"}'],
    ['label_replace(x, "client", "b", "", "")', 'label_replace(x{client="pizza-co"}, "client", "b", "", "")'],
    ['vector(1) + time()', 'vector(1) + time()'],
  ])('%s', (query, expected) => {
    expect(enforceClient(query, S)).toBe(expected);
  });

  it.each([
    ['', 'parse_error'],
    ['sum(up', 'parse_error'],
    ['up{a="x\n} or {__name__=~".+"}', 'parse_error'],
    ['up{a="\\q"}', 'parse_error'],
    ['info(up)', 'unsupported'],
  ])('refuses %j', (query, reason) => {
    expect(refusal(() => enforceClient(query, S)).reason).toBe(reason);
  });

  it('refuses an expression over the length limit, naming both lengths', () => {
    expect(refusal(() => enforceClient('up'.padEnd(40, ' '), S, { maxLength: 30 }))).toEqual({
      reason: 'too_long',
      message: 'the expression is 40 characters long; the limit is 30',
    });
  });

  it('takes only a series selector as match[]', () => {
    expect(enforceClientSelector(' up{job="x"} ', S)).toBe('up{job="x",client="pizza-co"}');
    expect(refusal(() => enforceClientSelector('up or down', S)).reason).toBe('not_a_selector');
    expect(refusal(() => enforceClientSelector('rate(up[1m])', S)).reason).toBe('not_a_selector');
  });
});

describe('stringLiteralValue', () => {
  it.each([
    ['"a\\"b"', 'a"b'],
    ["'it\\'s'", "it's"],
    ['`raw\\n`', 'raw\\n'],
    ['"\\x41\\101\\u00e9\\U0001F600"', 'AAé😀'],
  ])('%s', (literal, value) => {
    expect(stringLiteralValue(literal)).toBe(value);
  });
  it.each(['"open', '"a\nb"', '"\\q"', '"\\400"', '"\\uD800"', '\'mixed"'])('rejects %j', (literal) => {
    expect(stringLiteralValue(literal)).toBeNull();
  });
});
