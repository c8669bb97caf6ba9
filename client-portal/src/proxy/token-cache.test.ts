import { TokenCache } from './token-cache';
import type { VerifiedPortalToken } from './tokens';

const alpha: VerifiedPortalToken = { clientId: '1', slug: 'alpha', expiresAt: null };

/** A verification the test answers by hand, counting how often it was asked. */
function verifier() {
  const calls: { resolve: (v: VerifiedPortalToken | null) => void; reject: (err: Error) => void }[] = [];
  const verify = () => new Promise<VerifiedPortalToken | null>((resolve, reject) => calls.push({ resolve, reject }));
  return { verify, calls };
}
const flush = () => new Promise((r) => setImmediate(r));

describe('TokenCache', () => {
  let now = 1_000_000;
  beforeEach(() => {
    now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
  });
  afterEach(() => jest.restoreAllMocks());
  const quiet = () => {
    throw new Error('no background verification should fail here');
  };

  it('a burst of requests with the same token shares one verification', async () => {
    const cache = new TokenCache(10_000);
    const v = verifier();
    const answers = Array.from({ length: 17 }, () => cache.resolve('h', v.verify, quiet));
    expect(v.calls).toHaveLength(1);
    v.calls[0]!.resolve(alpha);
    expect(await Promise.all(answers)).toEqual(Array(17).fill(alpha));
    // Remembered: no more verification within the first half of its time.
    now += 4_000;
    expect(await cache.resolve('h', v.verify, quiet)).toBe(alpha);
    expect(v.calls).toHaveLength(1);
  });

  it('verifies again in the background in the second half, and a token found ended stops at once', async () => {
    const cache = new TokenCache(10_000);
    const v = verifier();
    const first = cache.resolve('h', v.verify, quiet);
    v.calls[0]!.resolve(alpha);
    await first;
    now += 6_000;
    // Answered from memory while the database is asked again, once.
    expect(await cache.resolve('h', v.verify, quiet)).toBe(alpha);
    expect(await cache.resolve('h', v.verify, quiet)).toBe(alpha);
    expect(v.calls).toHaveLength(2);
    v.calls[1]!.resolve(null); // rotated, revoked or churned meanwhile
    await flush();
    expect(await cache.resolve('h', v.verify, quiet)).toBeNull();
  });

  it('never answers from a verification older than its time', async () => {
    const cache = new TokenCache(10_000);
    const v = verifier();
    const first = cache.resolve('h', v.verify, quiet);
    v.calls[0]!.resolve(alpha);
    await first;
    now += 6_000;
    await cache.resolve('h', v.verify, quiet); // starts a background verification that hangs
    now += 4_001;
    // The remembered answer is now older than 10 s: the caller waits for the verification.
    const late = cache.resolve('h', v.verify, quiet);
    let settled = false;
    void late.then(() => (settled = true));
    await flush();
    expect(settled).toBe(false);
    v.calls[1]!.resolve(null);
    expect(await late).toBeNull();
  });

  it('remembers a token in its grace only until it ends', async () => {
    const cache = new TokenCache(10_000);
    const v = verifier();
    const graced = { ...alpha, expiresAt: new Date(now + 2_000) };
    const first = cache.resolve('h', v.verify, quiet);
    v.calls[0]!.resolve(graced);
    await first;
    now += 2_001;
    void cache.resolve('h', v.verify, quiet);
    expect(v.calls).toHaveLength(2);
  });

  it('a failed verification is not remembered and fails every waiting request', async () => {
    const cache = new TokenCache(10_000);
    const v = verifier();
    const a = cache.resolve('h', v.verify, quiet);
    const b = cache.resolve('h', v.verify, quiet);
    v.calls[0]!.reject(new Error('database down'));
    await expect(a).rejects.toThrow('database down');
    await expect(b).rejects.toThrow('database down');
    const c = cache.resolve('h', v.verify, quiet);
    expect(v.calls).toHaveLength(2);
    v.calls[1]!.resolve(alpha);
    expect(await c).toBe(alpha);
  });

  it('a failed background verification is reported and the remembered answer ends at its usual time', async () => {
    const cache = new TokenCache(10_000);
    const v = verifier();
    const errors: unknown[] = [];
    const first = cache.resolve('h', v.verify, (err) => errors.push(err));
    v.calls[0]!.resolve(alpha);
    await first;
    now += 6_000;
    expect(await cache.resolve('h', v.verify, (err) => errors.push(err))).toBe(alpha);
    v.calls[1]!.reject(new Error('database down'));
    await flush();
    expect(errors).toHaveLength(1);
    now += 3_000;
    expect(await cache.resolve('h', v.verify, quiet)).toBe(alpha);
    now += 1_001;
    void cache.resolve('h', v.verify, quiet);
    expect(v.calls).toHaveLength(3);
  });

  it('with a time of 0, every request verifies on its own', async () => {
    const cache = new TokenCache(0);
    const v = verifier();
    const a = cache.resolve('h', v.verify, quiet);
    const b = cache.resolve('h', v.verify, quiet);
    expect(v.calls).toHaveLength(2);
    v.calls[0]!.resolve(alpha);
    v.calls[1]!.resolve(null);
    expect([await a, await b]).toEqual([alpha, null]);
  });
});
