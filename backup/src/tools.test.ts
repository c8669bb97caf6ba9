import { zstdSizes } from './database';
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
