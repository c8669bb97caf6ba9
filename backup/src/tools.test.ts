import { zstdSizes } from './database';
import { splitPassword } from './pgtools';
import { spawnTool } from './streams';

describe('the sizes zstd reports', () => {
  it('reads zstd 1.5 (padded, in B) and zstd 1.4 (in bytes), and nothing else', () => {
    expect(zstdSizes('/*stdin*\\            :100.06%   ( 20000 B =>  20013 B, /*stdout*\\) \n')).toEqual({ input: 20000, output: 20013 });
    expect(zstdSizes('/*stdin*\\ :  0.00%   (100000000 B =>   3400 B, /*stdout*\\)')).toEqual({ input: 100000000, output: 3400 });
    expect(zstdSizes('/*stdin*\\            : 23.01%   (977042077 => 224788429 bytes, /*stdout*\\)')).toEqual({
      input: 977042077,
      output: 224788429,
    });
    expect(zstdSizes('*** zstd command line interface 64-bits v1.5.4, by Yann Collet ***\n')).toBeNull();
    expect(zstdSizes('(1.2 GiB => 230 MiB, /*stdout*\\)')).toBeNull();
  });
});

describe('a tool that fails', () => {
  it('is named with what it said and how it ended, a signal included', async () => {
    const warned = spawnTool('sh', ['-c', 'echo "warning: something odd" >&2; kill -KILL $$'], { label: 'the tool' });
    await expect(warned.done).rejects.toThrow(/^the tool failed: warning: something odd \(killed by SIGKILL\)$/);
    const silent = spawnTool('sh', ['-c', 'exit 3'], { label: 'the tool' });
    await expect(silent.done).rejects.toThrow(/^the tool failed: exit code 3$/);
  });
});

describe('the environment a tool sees', () => {
  it('holds the search path and PostgreSQL client settings, never the service secrets', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      BACKUP_MASTER_KEY: 'master-key-that-must-not-leak-0123456789',
      S3_SECRET_ACCESS_KEY: 's3-secret-that-must-not-leak',
      SECRETS_KEY: 'secrets-key-that-must-not-leak',
      PGSSLMODE: 'require',
    });
    try {
      const child = spawnTool('env', []);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await child.done;
      const seen = Object.fromEntries(
        out
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      expect(seen).toMatchObject({ PATH: process.env.PATH, PGSSLMODE: 'require' });
      expect(out).not.toMatch(/must-not-leak/);
      expect(Object.keys(seen).every((k) => /^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|HOME|PG[A-Z]+)$/.test(k))).toBe(true);
      // pg_dump and pg_restore: the password of their URL, in PGPASSWORD only.
      const { env, url } = splitPassword('postgres://ct_app:s3cr%40t@db:5432/ct');
      expect(url).toBe('postgres://ct_app@db:5432/ct');
      expect(env.PGPASSWORD).toBe('s3cr@t');
      expect(JSON.stringify(env)).not.toMatch(/must-not-leak/);
    } finally {
      process.env = saved;
    }
  });
});
