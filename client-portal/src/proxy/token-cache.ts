import type { VerifiedPortalToken } from './tokens';

/**
 * Verified tokens remembered by hash for a few seconds (never longer than the token's own end).
 *
 * A dashboard sends all its panels' queries at once: when its token is not remembered, they share
 * one verification instead of each taking a database connection. A remembered token that is used
 * in the second half of its time is verified again in the background, so a client that keeps
 * using the portal is not made to wait for the database every `ttl`; what is served is never
 * older than `ttl` (a rotated, revoked or churned client's token stops at most that late, sooner
 * when a background verification sees it first). With a `ttl` of 0 every request verifies alone.
 */
export class TokenCache {
  private readonly entries = new Map<string, { value: VerifiedPortalToken | null; until: number; refreshAt: number }>();
  private readonly pending = new Map<string, Promise<VerifiedPortalToken | null>>();
  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /**
   * The token's client, from memory or from `verify` (shared by concurrent callers). Rejects when
   * `verify` does; `onRefreshError` hears of a failed background verification.
   */
  async resolve(
    hash: string,
    verify: () => Promise<VerifiedPortalToken | null>,
    onRefreshError: (err: unknown) => void,
  ): Promise<VerifiedPortalToken | null> {
    if (this.ttlMs <= 0) return verify();
    const now = Date.now();
    const e = this.entries.get(hash);
    if (e && e.until > now) {
      if (e.value && e.refreshAt <= now && !this.pending.has(hash)) this.load(hash, verify).catch(onRefreshError);
      return e.value;
    }
    if (e) this.entries.delete(hash);
    return this.pending.get(hash) ?? this.load(hash, verify);
  }

  private load(hash: string, verify: () => Promise<VerifiedPortalToken | null>): Promise<VerifiedPortalToken | null> {
    const started = Date.now();
    const p = verify().then(
      (value) => {
        this.pending.delete(hash);
        this.set(hash, value, started);
        return value;
      },
      (err: unknown) => {
        this.pending.delete(hash);
        throw err;
      },
    );
    this.pending.set(hash, p);
    return p;
  }

  /** Remembered from when the verification started: its answer is at most that old. */
  private set(hash: string, value: VerifiedPortalToken | null, verifiedAt: number): void {
    this.entries.delete(hash);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    const until = Math.min(verifiedAt + this.ttlMs, value?.expiresAt?.getTime() ?? Infinity);
    this.entries.set(hash, { value, until, refreshAt: verifiedAt + this.ttlMs / 2 });
  }
}
