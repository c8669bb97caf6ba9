/**
 * The two Twilio REST calls the notifier needs (API version 2010-04-01):
 *   POST {base}/2010-04-01/Accounts/{AccountSid}/Calls.json     To, From, Twiml   (a voice call)
 *   POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json  To, From, Body    (an SMS)
 * form-encoded, HTTP basic auth with the Account SID and Auth Token; Twilio answers 201 with the
 * created resource (its `sid`), or 4xx/5xx with {code, message, more_info, status}.
 */

export type FailureReason = 'provider_error' | 'provider_rejected' | 'rate_limited' | 'timeout' | 'network';

export class ProviderError extends Error {
  constructor(
    message: string,
    readonly reason: FailureReason,
    /** Worth trying again: 5xx, 429, timeouts and network errors. A 4xx is a bad request. */
    readonly retryable: boolean,
    readonly status?: number,
    /**
     * Twilio may have created the call or message anyway: no answer in time, a 5xx other than
     * 503, or an answer cut off. Creating is not idempotent, so this is looked up before a retry.
     */
    readonly maybeCreated = false,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** Connection errors raised before a request is sent: Twilio cannot have acted on it. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export interface TwilioOptions {
  baseUrl: string;
  accountSid: string;
  authToken: string;
  from: string;
  timeoutMs: number;
  /** Attempts per message, the first included. */
  attempts: number;
  /** Wait before the second attempt; doubles each time (with jitter). */
  backoffMs: number;
  /** Called after each HTTP exchange, for metrics. */
  onAttempt?: (kind: 'call' | 'sms', outcome: 'accepted' | FailureReason, seconds: number) => void;
}

export interface Accepted {
  sid: string;
  attempts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TwilioClient {
  constructor(private readonly opts: TwilioOptions) {}

  /** Places a call that speaks `twiml`. */
  call(to: string, twiml: string): Promise<Accepted> {
    return this.create('call', 'Calls.json', { To: to, From: this.opts.from, Twiml: twiml });
  }

  /** Sends an SMS. */
  sms(to: string, body: string): Promise<Accepted> {
    return this.create('sms', 'Messages.json', { To: to, From: this.opts.from, Body: body });
  }

  private async create(kind: 'call' | 'sms', resource: string, form: Record<string, string>): Promise<Accepted> {
    const url = `${this.opts.baseUrl.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(this.opts.accountSid)}/${resource}`;
    let last: ProviderError | undefined;
    for (let attempt = 1; attempt <= this.opts.attempts; attempt++) {
      if (attempt > 1) {
        const base = this.opts.backoffMs * 2 ** (attempt - 2);
        await sleep(base / 2 + Math.random() * (base / 2));
      }
      const started = process.hrtime.bigint();
      const sentAt = Date.now();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        const sid = await this.post(url, form);
        this.opts.onAttempt?.(kind, 'accepted', seconds());
        return { sid, attempts: attempt };
      } catch (err) {
        last = err instanceof ProviderError ? err : new ProviderError(String(err), 'network', true, undefined, true);
        this.opts.onAttempt?.(kind, last.reason, seconds());
        if (!last.retryable) break;
        if (last.maybeCreated) {
          // A second POST could ring the same phone twice: ask Twilio first.
          const found = await this.findCreated(url, form, sentAt);
          if (found === undefined) break; // cannot tell: the caller's retry decides, not a blind one here
          if (found) return { sid: found, attempts: attempt };
        }
      }
    }
    throw last ?? new ProviderError('no attempt made', 'provider_error', true);
  }

  /**
   * Looks for a call or message to the same number from the same sender created since `since`
   * (Twilio's list resources, newest first): its sid, null if there is none, undefined if the
   * lookup itself failed.
   */
  private async findCreated(url: string, form: Record<string, string>, since: number): Promise<string | null | undefined> {
    const query = new URLSearchParams({ To: form.To!, From: form.From!, PageSize: '20' });
    try {
      const res = await fetch(`${url}?${query}`, {
        headers: { Authorization: this.authorization(), Accept: 'application/json' },
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      if (!res.ok) return undefined;
      const page = (await res.json()) as Record<string, unknown>;
      const items = (page.calls ?? page.messages) as { sid?: string; to?: string; from?: string; date_created?: string }[] | undefined;
      if (!Array.isArray(items)) return undefined;
      // date_created has whole seconds: a resource of this attempt is no older than a second before it.
      const mine = items.find(
        (i) => i.to === form.To && i.from === form.From && typeof i.sid === 'string' && Date.parse(i.date_created ?? '') >= since - 1000,
      );
      return mine?.sid ?? null;
    } catch {
      return undefined;
    }
  }

  private authorization(): string {
    return `Basic ${Buffer.from(`${this.opts.accountSid}:${this.opts.authToken}`).toString('base64')}`;
  }

  private async post(url: string, form: Record<string, string>): Promise<string> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          Authorization: this.authorization(),
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: new URLSearchParams(form).toString(),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
      const notSent = NOT_SENT.has(e.cause?.code ?? '');
      throw new ProviderError(
        timedOut
          ? `no answer from Twilio within ${this.opts.timeoutMs} ms`
          : `cannot reach Twilio: ${e.message}${e.cause?.code ? ` (${e.cause.code})` : ''}`,
        timedOut ? 'timeout' : 'network',
        true,
        undefined,
        !notSent,
      );
    }
    let body: { sid?: unknown; message?: unknown; code?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      /* not JSON: reported by status below */
    }
    if (res.status >= 200 && res.status < 300) {
      return typeof body.sid === 'string' ? body.sid : '';
    }
    const detail = typeof body.message === 'string' ? `: ${body.message}${body.code ? ` (code ${String(body.code)})` : ''}` : '';
    if (res.status === 429) throw new ProviderError(`Twilio rate limited the request${detail}`, 'rate_limited', true, 429);
    // 503: Twilio did not take the request; any other 5xx may come after it acted on it.
    if (res.status >= 500)
      throw new ProviderError(`Twilio answered ${res.status}${detail}`, 'provider_error', true, res.status, res.status !== 503);
    throw new ProviderError(`Twilio rejected the request with ${res.status}${detail}`, 'provider_rejected', false, res.status);
  }
}
