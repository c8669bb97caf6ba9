import { Writable } from 'node:stream';
import { createLogger, redactUrl } from './logger';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, destination };
}

describe('logger', () => {
  it('writes JSON lines and never secrets', () => {
    const { lines, destination } = capture();
    const log = createLogger({ destination, format: 'json' });
    log.info(
      {
        password: 'hunter2',
        headers: { authorization: 'Bearer abc.def', 'x-api-key': 'ct_live_key' },
        cfg: { SECRETS_KEY: 'k'.repeat(40) },
        client: 'pizza',
      },
      'hello',
    );
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!);
    expect(parsed).toMatchObject({ msg: 'hello', client: 'pizza', password: '[redacted]' });
    expect(lines[0]).not.toMatch(/hunter2|abc\.def|ct_live_key|kkkkkkkk/);
  });

  it('redacts the password of a connection string', () => {
    expect(redactUrl('postgres://ct:s3cret@db:5432/ct')).toBe('postgres://ct:***@db:5432/ct');
    expect(redactUrl('not a url')).toBe('[unparseable url]');
  });
});
