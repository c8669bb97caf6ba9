import { z } from 'zod';
import { ConfigError, durationSeconds, loadConfig, parseEnv } from './config';

describe('loadConfig', () => {
  it('parses and applies defaults', () => {
    const cfg = loadConfig(['database', 'logging'], undefined, { DATABASE_URL: 'postgres://u@h:5432/db' });
    expect(cfg).toEqual({
      DATABASE_URL: 'postgres://u@h:5432/db',
      DATABASE_CONNECT_TIMEOUT: 5,
      DATABASE_POOL_MAX: 10,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'auto',
    });
  });

  it('names every bad variable at once', () => {
    let err: unknown;
    try {
      loadConfig(['database', 'secrets'], z.object({ API_PORT: z.coerce.number().int().max(65535) }), {
        DATABASE_URL: 'postgres://u@h/db',
        DATABASE_POOL_MAX: '0',
        SECRETS_KEY: 'short',
        API_PORT: '99999',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const vars = (err as ConfigError).problems.map((p) => p.variable).sort();
    expect(vars).toEqual(['API_PORT', 'DATABASE_POOL_MAX', 'SECRETS_KEY']);
    expect((err as ConfigError).message).toContain('SECRETS_KEY: must be at least 32 characters');
    expect((err as ConfigError).message).not.toContain('short');
  });

  it('treats an empty variable as unset', () => {
    expect(() => loadConfig(['database'], undefined, { DATABASE_URL: '' })).toThrow('DATABASE_URL: is required but not set');
  });

  it('parses previous secret keys and rejects malformed entries', () => {
    const key = 'x'.repeat(32);
    const cfg = loadConfig(['secrets'], undefined, {
      SECRETS_KEY: key,
      SECRETS_PREVIOUS_KEYS: `old1:${'a'.repeat(32)}, old2:${'b'.repeat(40)}`,
    });
    expect(Object.keys(cfg.SECRETS_PREVIOUS_KEYS)).toEqual(['old1', 'old2']);
    expect(() => loadConfig(['secrets'], undefined, { SECRETS_KEY: key, SECRETS_PREVIOUS_KEYS: 'nokey' })).toThrow(
      /SECRETS_PREVIOUS_KEYS: entries must be id:key/,
    );
  });
});

describe('durationSeconds', () => {
  const parse = (v: string | number) => parseEnv(z.object({ D: durationSeconds }), { D: String(v) }).D;
  it.each([
    ['30', 30],
    ['30s', 30],
    ['250ms', 0.25],
    ['15m', 900],
    ['24h', 86400],
    ['7d', 604800],
  ])('%s is %d seconds', (v, s) => expect(parse(v)).toBe(s));
  it.each(['', 'soon', '-5s', '5w', '1h30m'])('%j is refused', (v) => {
    if (v === '') return expect(() => parse(v)).toThrow('D: is required but not set');
    expect(() => parse(v)).toThrow('D: must be a duration like 30s, 15m, 24h or 7d');
  });
});
