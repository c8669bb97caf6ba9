/**
 * Remembers what was delivered, for a while, so a repeated webhook is not delivered twice: two
 * Alertmanagers of a cluster that both send (when gossip is slow or split), or Alertmanager
 * retrying after a timeout although the provider had accepted. Concurrent duplicates wait for the
 * first delivery and share its result. A failed delivery is forgotten, so its retry goes out.
 */
export class Deduplicator {
  private readonly done = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs `deliver` unless `key` was delivered within the window; returns whether it ran. */
  async once(key: string, deliver: () => Promise<void>): Promise<boolean> {
    this.prune();
    const running = this.inFlight.get(key);
    if (running) {
      await running;
      return false;
    }
    const at = this.done.get(key);
    if (at !== undefined && this.now() - at < this.windowMs) return false;
    const p = deliver();
    this.inFlight.set(key, p);
    try {
      await p;
      this.done.set(key, this.now());
      return true;
    } finally {
      this.inFlight.delete(key);
    }
  }

  get size(): number {
    return this.done.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [key, at] of this.done) if (now - at >= this.windowMs) this.done.delete(key);
  }
}
