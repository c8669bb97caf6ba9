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
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

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
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        const sid = await this.post(url, form);
        this.opts.onAttempt?.(kind, 'accepted', seconds());
        return { sid, attempts: attempt };
      } catch (err) {
        last = err instanceof ProviderError ? err : new ProviderError(String(err), 'network', true);
        this.opts.onAttempt?.(kind, last.reason, seconds());
        if (!last.retryable) break;
      }
    }
    throw last ?? new ProviderError('no attempt made', 'provider_error', true);
  }

  private async post(url: string, form: Record<string, string>): Promise<string> {
    const auth = Buffer.from(`${this.opts.accountSid}:${this.opts.authToken}`).toString('base64');
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          Authorization: `Basic ${auth}`,
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: new URLSearchParams(form).toString(),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new ProviderError(
        timedOut ? `no answer from Twilio within ${this.opts.timeoutMs} ms` : `cannot reach Twilio: ${(err as Error).message}`,
        timedOut ? 'timeout' : 'network',
        true,
      );
    }
    const text = await res.text();
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
    if (res.status >= 500) throw new ProviderError(`Twilio answered ${res.status}${detail}`, 'provider_error', true, res.status);
    throw new ProviderError(`Twilio rejected the request with ${res.status}${detail}`, 'provider_rejected', false, res.status);
  }
}
