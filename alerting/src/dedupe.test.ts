import { Deduplicator } from './dedupe';

describe('Deduplicator', () => {
  it('runs a key once per window, shares a concurrent run, and forgets failures', async () => {
    let now = 0;
    const d = new Deduplicator(1000, () => now);
    let runs = 0;
    const job = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 10));
    };
    expect(await Promise.all([d.once('k', job), d.once('k', job)])).toEqual([true, false]);
    expect(runs).toBe(1);
    now = 999;
    expect(await d.once('k', job)).toBe(false);
    now = 1000;
    expect(await d.once('k', job)).toBe(true);
    expect(runs).toBe(2);
    await expect(d.once('bad', () => Promise.reject(new Error('provider down')))).rejects.toThrow('provider down');
    expect(await d.once('bad', job)).toBe(true);
  });
});
