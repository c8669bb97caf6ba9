import { createHmac, randomBytes } from 'node:crypto';
import { safeEqual } from '@ct/lib';

/**
 * The Twilio REST calls the notifier makes (API version 2010-04-01), form-encoded, HTTP basic auth
 * with the Account SID and Auth Token; Twilio answers 201 with the created resource (its `sid`), or
 * 4xx/5xx with {code, message, more_info, status}:
 *   POST {base}/2010-04-01/Accounts/{AccountSid}/Calls.json     To, From, Twiml, Timeout, StatusCallback, StatusCallbackEvent…
 *   POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json  To, From, Body, StatusCallback
 *   GET  {base}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json          one call and its status
 *   GET  {base}/2010-04-01/Accounts/{AccountSid}/Messages.json?To=&From=       messages, newest first
 * (https://www.twilio.com/docs/voice/api/call-resource, https://www.twilio.com/docs/messaging/api/message-resource)
 *
 * Every attempt carries a marker of its own, so "did Twilio create it although it did not answer?"
 * is answered about that attempt exactly, never by "something to the same number lately":
 *   - a message: the marker ends its Body, which the Messages list returns;
 *   - a call: the Call resource returns no field the caller sets (no Twiml, Url or StatusCallback;
 *     the Events subresource that holds the create request is readable only 15 minutes after the
 *     call ends), so the marker is in the StatusCallback URL, and Twilio's signed status callbacks
 *     for that URL, from `initiated` on, name the call's sid.
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

/** A call's status (Call resource `status`, status callback `CallStatus`). */
export type CallStatus = 'queued' | 'initiated' | 'ringing' | 'in-progress' | 'completed' | 'busy' | 'failed' | 'no-answer' | 'canceled';

/** What a call status means for a page: someone answered, nobody did, or not known yet. */
export function callOutcome(status: string | undefined): 'answered' | 'unanswered' | 'pending' {
  // completed: "the call was answered and has ended normally"; in-progress: answered, still on.
  if (status === 'in-progress' || status === 'completed') return 'answered';
  if (status === 'busy' || status === 'no-answer' || status === 'failed' || status === 'canceled') return 'unanswered';
  return 'pending';
}

/** A fresh attempt marker: 10 characters of [a-z0-9]. */
export function newMarker(): string {
  return Array.from(randomBytes(10), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
}

const MARKER_SUFFIX = / \(ref ([a-z0-9]{10})\)$/;

/** The SMS body with the attempt's marker at its end, the text cut so the whole stays within `max`. */
export function markedBody(text: string, marker: string, max = 160): string {
  const suffix = ` (ref ${marker})`;
  const chars = Array.from(text);
  const room = max - suffix.length;
  return `${chars.length <= room ? text : `${chars.slice(0, room - 3).join('')}...`}${suffix}`;
}

/** The marker at the end of an SMS body, if any. */
export function bodyMarker(body: string): string | undefined {
  return MARKER_SUFFIX.exec(body)?.[1];
}

/**
 * Twilio's request signature (X-Twilio-Signature): base64 of HMAC-SHA1, keyed with the Auth Token,
 * of the full URL Twilio requested (scheme, host, path and query) followed by each POST parameter's
 * name and value, sorted by name (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
 */
export function twilioSignature(authToken: string, url: string, params: [string, string][]): string {
  const sorted = [...params].sort(([a, va], [b, vb]) => (a < b ? -1 : a > b ? 1 : va < vb ? -1 : va > vb ? 1 : 0));
  return createHmac('sha1', authToken)
    .update(url + sorted.map(([k, v]) => k + v).join(''))
    .digest('base64');
}

/** Whether `signature` is Twilio's for this URL and form, compared in constant time. */
export function validTwilioSignature(authToken: string, signature: string | undefined, url: string, params: [string, string][]): boolean {
  return Boolean(signature) && safeEqual(signature!, twilioSignature(authToken, url, params));
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

export interface CallRequest {
  to: string;
  twiml: string;
  /** This attempt's marker (also in `statusCallback`, when there is one). */
  marker: string;
  /** Seconds to let the phone ring before Twilio reports no-answer (Timeout). */
  ringSeconds: number;
  /** Where Twilio posts the call's progress (initiated, ringing, answered, completed). */
  statusCallback?: string;
  /**
   * After an attempt Twilio may have acted on: the sid of the call this marker created (from its
   * status callbacks), null if there is none, undefined if that cannot be told.
   */
  findCreated?: () => Promise<string | null | undefined>;
}

export interface SmsRequest {
  to: string;
  /** The text; the marker is appended (within 160 characters). */
  text: string;
  marker: string;
  statusCallback?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TwilioClient {
  constructor(private readonly opts: TwilioOptions) {}

  private get accountUrl(): string {
    return `${this.opts.baseUrl.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(this.opts.accountSid)}`;
  }

  /** Places a call that speaks `twiml`, reporting its progress to `statusCallback`. */
  call(req: CallRequest): Promise<Accepted> {
    const form: [string, string][] = [
      ['To', req.to],
      ['From', this.opts.from],
      ['Twiml', req.twiml],
      ['Timeout', String(Math.round(req.ringSeconds))],
    ];
    if (req.statusCallback) {
      form.push(['StatusCallback', req.statusCallback], ['StatusCallbackMethod', 'POST']);
      for (const event of ['initiated', 'ringing', 'answered', 'completed']) form.push(['StatusCallbackEvent', event]);
    }
    return this.create('call', 'Calls.json', form, req.findCreated ?? (async () => undefined));
  }

  /** Sends an SMS whose body ends with the attempt's marker. */
  sms(req: SmsRequest): Promise<Accepted> {
    const body = markedBody(req.text, req.marker);
    const form: [string, string][] = [
      ['To', req.to],
      ['From', this.opts.from],
      ['Body', body],
    ];
    if (req.statusCallback) form.push(['StatusCallback', req.statusCallback]);
    return this.create('sms', 'Messages.json', form, () => this.findMessage(req.to, req.marker));
  }

  /** A call's current status and duration (GET Calls/{sid}.json), or undefined when that fails. */
  async fetchCall(sid: string): Promise<{ status: string; duration: string | null } | undefined> {
    try {
      const res = await fetch(`${this.accountUrl}/Calls/${encodeURIComponent(sid)}.json`, {
        headers: { Authorization: this.authorization(), Accept: 'application/json' },
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      if (!res.ok) return undefined;
      const call = (await res.json()) as { sid?: unknown; status?: unknown; duration?: unknown };
      if (call.sid !== sid || typeof call.status !== 'string') return undefined;
      return { status: call.status, duration: typeof call.duration === 'string' ? call.duration : null };
    } catch {
      return undefined;
    }
  }

  /**
   * The message this marker created: Twilio's Messages list to the same number from the same
   * sender (newest first), matched on the marker that ends the body. No time window: the marker is
   * this attempt's alone, so neither a concurrent page nor the clocks matter. Its sid, null if
   * there is none, undefined if the lookup failed.
   */
  async findMessage(to: string, marker: string): Promise<string | null | undefined> {
    const query = new URLSearchParams({ To: to, From: this.opts.from, PageSize: '50' });
    try {
      const res = await fetch(`${this.accountUrl}/Messages.json?${query}`, {
        headers: { Authorization: this.authorization(), Accept: 'application/json' },
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      if (!res.ok) return undefined;
      const page = (await res.json()) as { messages?: { sid?: unknown; body?: unknown }[] };
      if (!Array.isArray(page.messages)) return undefined;
      const mine = page.messages.find((m) => typeof m.sid === 'string' && typeof m.body === 'string' && bodyMarker(m.body) === marker);
      return mine ? (mine.sid as string) : null;
    } catch {
      return undefined;
    }
  }

  private async create(
    kind: 'call' | 'sms',
    resource: string,
    form: [string, string][],
    findCreated: () => Promise<string | null | undefined>,
  ): Promise<Accepted> {
    const url = `${this.accountUrl}/${resource}`;
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
        last = err instanceof ProviderError ? err : new ProviderError(String(err), 'network', true, undefined, true);
        this.opts.onAttempt?.(kind, last.reason, seconds());
        if (!last.retryable) break;
        if (last.maybeCreated) {
          // A second POST could ring the same phone twice: find this attempt's own resource first.
          const found = await findCreated();
          if (found === undefined) break; // cannot tell: the caller decides, not a blind retry here
          if (found) return { sid: found, attempts: attempt };
        }
      }
    }
    throw last ?? new ProviderError('no attempt made', 'provider_error', true);
  }

  private authorization(): string {
    return `Basic ${Buffer.from(`${this.opts.accountSid}:${this.opts.authToken}`).toString('base64')}`;
  }

  private async post(url: string, form: [string, string][]): Promise<string> {
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
