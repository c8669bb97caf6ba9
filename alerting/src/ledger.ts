import type { WebhookAlert } from './webhook';

export type LedgerEntry = [key: string, at: number, seen: number];

/**
 * Per-alert memory of what the notifier already delivered, keyed by the alert's fingerprint and
 * start time (one firing episode of one label set) and the recipient. Alertmanager notifies a
 * group each time its alert set changes — an alert joins, one of several resolves — and repeats
 * it every repeat_interval; the ledger lets the call tier ring only for alerts that newly fire
 * (or whose last call is older than `recallAfterMs`, the repeat of an unanswered page), and
 * text each resolution once, whichever Alertmanager of a pair sends it and however often.
 *
 * A claim is taken before the delivery and released if it fails, so concurrent duplicates (both
 * Alertmanagers at once) deliver once and a failed delivery is tried again by the next webhook.
 * Entries not seen in any webhook for `forgetAfterMs` are dropped. With `onChange` (the notifier's
 * state file) every change is saved, and `entries` given back restores it after a restart, so a
 * restarted notifier does not call again for alerts it already called about.
 */
export class AlertLedger {
  private readonly delivered = new Map<string, { at: number; seen: number }>();

  constructor(
    private readonly opts: { recallAfterMs: number; forgetAfterMs: number; entries?: LedgerEntry[]; onChange?: () => void },
    private readonly now: () => number = Date.now,
  ) {
    for (const [key, at, seen] of opts.entries ?? []) this.delivered.set(key, { at, seen });
  }

  /** What the ledger holds, to save: [key, delivered at, last seen] (epoch ms). */
  entries(): LedgerEntry[] {
    return [...this.delivered].map(([key, e]) => [key, e.at, e.seen]);
  }

  /** The identity of one firing episode of one alert. */
  static alertKey(alert: Pick<WebhookAlert, 'fingerprint' | 'startsAt'>): string {
    return `${alert.fingerprint}@${alert.startsAt}`;
  }

  /**
   * Claims the alerts `kind` has not been delivered to `to` for (a call again after recallAfterMs
   * when that is above 0; a resolution only once); returns the claimed alerts and a release().
   */
  claim<A extends Pick<WebhookAlert, 'fingerprint' | 'startsAt'>>(
    kind: 'call' | 'resolved',
    to: string,
    alerts: A[],
  ): { alerts: A[]; release(): void } {
    this.prune();
    const now = this.now();
    const claimed: A[] = [];
    const previous = new Map<string, { at: number; seen: number } | undefined>();
    for (const alert of alerts) {
      const key = `${kind}|${to}|${AlertLedger.alertKey(alert)}`;
      const entry = this.delivered.get(key);
      if (entry) entry.seen = now;
      const due =
        !entry || (kind === 'call' && this.opts.recallAfterMs > 0 && now - entry.at >= this.opts.recallAfterMs && !previous.has(key));
      if (!due) continue;
      previous.set(key, entry && { ...entry });
      this.delivered.set(key, { at: now, seen: now });
      claimed.push(alert);
    }
    if (claimed.length > 0) this.opts.onChange?.();
    return {
      alerts: claimed,
      release: () => {
        for (const [key, entry] of previous) {
          if (entry) this.delivered.set(key, entry);
          else this.delivered.delete(key);
        }
        if (previous.size > 0) this.opts.onChange?.();
      },
    };
  }

  get size(): number {
    return this.delivered.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [key, e] of this.delivered) if (now - e.seen >= this.opts.forgetAfterMs) this.delivered.delete(key);
  }
}
