import { z } from 'zod';
import { HttpError } from './errors';
import { parsePart } from './route';
import { decodeCursor, duration, encodeCursor } from './schemas';

describe('request validation', () => {
  const schema = z.strictObject({ name: z.string().max(3), nested: z.object({ n: z.number() }).optional() });

  it('names each bad field, where it is, and says "is required" for missing ones', () => {
    try {
      parsePart('body', schema, { nested: { n: 'x' }, extra: 1 });
      throw new Error('no error');
    } catch (err) {
      expect(err).toBeInstanceOf(HttpError);
      const e = err as HttpError;
      expect(e.status).toBe(400);
      expect(e.fields).toEqual(
        expect.arrayContaining([
          { in: 'body', field: 'name', message: 'is required' },
          { in: 'body', field: 'nested.n', message: expect.stringMatching(/number/) },
          { in: 'body', field: 'body', message: 'unknown field(s): extra' },
        ]),
      );
    }
  });

  it('reports a missing body as the body field', () => {
    expect(() => parsePart('body', schema, undefined)).toThrow(/body body: is required/);
  });
});

describe('cursors and durations', () => {
  it('round-trips a cursor and refuses a forged one', () => {
    expect(decodeCursor(encodeCursor(['2026-01-01', 'x']), ['string', 'string'])).toEqual(['2026-01-01', 'x']);
    expect(() => decodeCursor('bm90LWpzb24', ['string'])).toThrow(/cursor/);
    expect(() => decodeCursor(encodeCursor([1]), ['string'])).toThrow(/cursor/);
  });

  it('parses durations with a bound', () => {
    expect(duration(3600).parse('15m')).toBe(900);
    expect(duration(3600).safeParse('2h').success).toBe(false);
    expect(duration(3600).safeParse('soon').success).toBe(false);
  });
});
