import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/**
 * A contract fake of the part of Twilio's REST API (2010-04-01) the notifier uses, for tests: Twilio
 * cannot run here. It keeps calls and messages, answers their list and fetch endpoints with the
 * filters Twilio documents, plays a scripted outcome per number (answered, no-answer, busy,
 * failed) and posts the status callbacks each request asked for, signed as Twilio signs them.
 * Every request is checked against Twilio's published API; what breaks it is answered 400 with
 * Twilio's error body and recorded in `violations` (tests assert there are none).
 *
 * Sources (Twilio docs and its OpenAPI document, twilio-oai spec/json/twilio_api_v2010.json):
 *   Calls:    https://www.twilio.com/docs/voice/api/call-resource
 *     create  To, From, Twiml|Url, Method, Timeout (≤ 600 s), StatusCallback, StatusCallbackMethod,
 *             StatusCallbackEvent (initiated|ringing|answered|completed, one parameter each; none: completed);
 *     read    filters To, From, ParentCallSid, Status, StartTime[<>], EndTime[<>] (YYYY-MM-DD, GMT),
 *             PageSize (≤ 1000), Page, PageToken; newest first; the resource has no field the caller
 *             sets beyond To and From (no Twiml, Url or StatusCallback);
 *     fetch   GET Calls/{CallSid}.json.
 *   Messages: https://www.twilio.com/docs/messaging/api/message-resource
 *     create  To, From, Body (≤ 1,600 characters) or MediaUrl, MessagingServiceSid, StatusCallback, ValidityPeriod;
 *     read    filters To, From, DateSent[<>], PageSize, Page, PageToken; the resource returns `body`.
 *   Status callbacks: https://www.twilio.com/docs/voice/api/call-resource#statuscallback,
 *     https://www.twilio.com/docs/messaging/guides/track-outbound-message-status — form-encoded POSTs
 *     with CallSid, CallStatus (initiated, ringing, in-progress, completed, busy, failed, no-answer,
 *     canceled), CallDuration on the last, SequenceNumber, Timestamp, CallbackSource; or MessageSid,
 *     MessageStatus (queued, sent, delivered, undelivered, failed), ErrorCode.
 *   Signature: https://www.twilio.com/docs/usage/webhooks/webhooks-security — X-Twilio-Signature is
 *     base64(HMAC-SHA1(AuthToken, URL + each POST parameter's name and value, sorted by name)).
 */

export const TEST_TWILIO = {
  accountSid: 'AC0123456789abcdef0123456789abcdef',
  authToken: 'test-auth-token-not-secret',
  from: '+15005550006',
};

export type CallScript = 'answered' | 'no-answer' | 'busy' | 'failed';

/** A call or message the notifier asked for (contract-checked), as the tests read it. */
export interface TwilioRequest {
  kind: 'call' | 'sms';
  accountSid: string;
  /** The parameters sent; a message's Body without the attempt marker that ends it (see `marker`). */
  form: Record<string, string>;
  /** The attempt marker: the `attempt` query of StatusCallback, or the "(ref …)" ending a message's Body. */
  marker?: string;
  /** The parameters exactly as sent, repeated ones included. */
  raw: [string, string][];
  /** When the fake received it (its own clock, skew included), epoch ms. */
  at: number;
  /** The sid the fake created for it, if it created one. */
  sid?: string;
}

export interface CallbackDelivery {
  url: string;
  params: Record<string, string>;
  /** The notifier's answer, or 0 when it could not be reached. */
  status: number;
}

interface Resource {
  sid: string;
  kind: 'call' | 'sms';
  to: string;
  from: string;
  body?: string;
  status: string;
  created: number;
  started?: number;
  ended?: number;
  duration?: number;
  callback?: string;
  events: Set<string>;
  sequence: number;
}

const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be E.164');
const absoluteUrl = z.string().regex(/^https?:\/\/[^\s_]+$/, 'must be an absolute http(s) URL (no underscore in the host)');
const CALL_EVENTS = new Set(['initiated', 'ringing', 'answered', 'completed']);
const callForm = z
  .object({
    To: e164,
    From: e164,
    Twiml: z.string().max(4000).optional(),
    Url: absoluteUrl.optional(),
    Method: z.enum(['GET', 'POST']).optional(),
    Timeout: z.coerce.number().int().min(1).max(600).optional(),
    StatusCallback: absoluteUrl.optional(),
    StatusCallbackMethod: z.enum(['GET', 'POST']).optional(),
    StatusCallbackEvent: z.string().optional(),
    MachineDetection: z.enum(['Enable', 'DetectMessageEnd']).optional(),
  })
  .strict()
  .refine((f) => Boolean(f.Twiml) !== Boolean(f.Url), 'exactly one of Twiml or Url');
const messageForm = z
  .object({
    To: e164,
    From: e164,
    Body: z.string().min(1).max(1600),
    MessagingServiceSid: z.string().optional(),
    StatusCallback: absoluteUrl.optional(),
    MediaUrl: z.string().optional(),
    ValidityPeriod: z.coerce.number().int().min(1).max(36000).optional(),
  })
  .strict();
const pageQuery = {
  PageSize: z.coerce.number().int().min(1).max(1000).optional(),
  Page: z.coerce.number().int().min(0).optional(),
  PageToken: z.string().optional(),
};
const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD');
const callsQuery = z
  .object({
    To: z.string().optional(),
    From: z.string().optional(),
    ParentCallSid: z.string().optional(),
    Status: z.enum(['queued', 'ringing', 'in-progress', 'canceled', 'completed', 'failed', 'busy', 'no-answer']).optional(),
    StartTime: date.optional(),
    'StartTime<': date.optional(),
    'StartTime>': date.optional(),
    EndTime: date.optional(),
    'EndTime<': date.optional(),
    'EndTime>': date.optional(),
    ...pageQuery,
  })
  .strict();
const messagesQuery = z
  .object({
    To: z.string().optional(),
    From: z.string().optional(),
    DateSent: date.optional(),
    'DateSent<': date.optional(),
    'DateSent>': date.optional(),
    ...pageQuery,
  })
  .strict();

const hex = (n: number) => randomBytes(n).toString('hex');
const rfc2822 = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toUTCString().replace('GMT', '+0000'));
const day = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString().slice(0, 10));

/** Failures to play on the next requests creating a resource. */
export interface Fault {
  resource: 'Calls' | 'Messages';
  /** The HTTP status to answer (a 2xx: the normal answer, only late). */
  status: number;
  times: number;
  /** Whether Twilio created the resource anyway (a 5xx after acting, or an answer that comes too late). */
  created: boolean;
  /** How late the answer comes. */
  delayMs?: number;
}

export class TwilioFake {
  readonly violations: string[] = [];
  readonly callbacks: CallbackDelivery[] = [];
  readonly lookups: { resource: string; query: Record<string, string> }[] = [];
  private readonly resources: Resource[] = [];
  private readonly received: TwilioRequest[] = [];
  private readonly scripts = new Map<string, CallScript[]>();
  private readonly faults: Fault[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private server?: http.Server;
  /** Numbers whose callbacks are not sent (as if they were lost): the notifier must poll. */
  readonly silent = new Set<string>();
  port = 0;

  constructor(
    readonly opts: {
      accountSid?: string;
      authToken?: string;
      /** Added to the fake's clock: its timestamps are this far from the notifier's. */
      clockSkewMs?: number;
      /** How long a call rings before its scripted outcome. */
      ringMs?: number;
      /** How long an answered call lasts. */
      talkMs?: number;
    } = {},
  ) {}

  get accountSid(): string {
    return this.opts.accountSid ?? TEST_TWILIO.accountSid;
  }
  get authToken(): string {
    return this.opts.authToken ?? TEST_TWILIO.authToken;
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  private now(): number {
    return Date.now() + (this.opts.clockSkewMs ?? 0);
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => void this.handle(req, body, res));
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())));
  }

  /** Forgets every call, message, request, callback, script and fault (between tests). */
  reset(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.resources.length = 0;
    this.received.length = 0;
    this.callbacks.length = 0;
    this.lookups.length = 0;
    this.violations.length = 0;
    this.scripts.clear();
    this.faults.length = 0;
    this.silent.clear();
  }

  /** The outcomes of the next calls to `to`, in order; then (and by default) answered. */
  script(to: string, outcomes: CallScript[]): void {
    this.scripts.set(to, [...outcomes]);
  }

  fail(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  /** The calls and messages the notifier asked for, oldest first. */
  requests(): TwilioRequest[] {
    return [...this.received];
  }

  /** A call's current status as the fake knows it. */
  call(sid: string): { status: string; to: string } | undefined {
    const r = this.resources.find((x) => x.sid === sid);
    return r && { status: r.status, to: r.to };
  }

  /** Throws naming every request that broke the contract. */
  assertClean(): void {
    if (this.violations.length > 0) throw new Error(`requests broke the Twilio contract:\n${this.violations.join('\n')}`);
  }

  /** Signs a callback exactly as Twilio does (written here from Twilio's description, independently of the notifier's code). */
  sign(url: string, params: Record<string, string>, authToken = this.authToken): string {
    const data = Object.keys(params)
      .sort()
      .reduce((acc, k) => acc + k + params[k], url);
    return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
  }

  /** Posts a (signed) callback as Twilio would; returns the notifier's status (0: unreachable). */
  async postCallback(url: string, params: Record<string, string>, signature = this.sign(url, params)): Promise<number> {
    let status = 0;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
          'X-Twilio-Signature': signature,
          'User-Agent': 'TwilioProxy/1.1',
          'I-Twilio-Idempotency-Token': hex(16),
        },
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.timeout(5000),
      });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    this.callbacks.push({ url, params, status });
    return status;
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private send(res: http.ServerResponse, status: number, body: unknown, delayMs = 0): void {
    const write = () => {
      if (res.destroyed) return;
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (delayMs > 0) this.later(delayMs, write);
    else write();
  }

  private error(res: http.ServerResponse, status: number, code: number, message: string, delayMs = 0): void {
    this.send(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, delayMs);
  }

  private violation(res: http.ServerResponse, req: http.IncomingMessage, why: string): void {
    this.violations.push(`${req.method} ${req.url}: ${why}`);
    this.error(res, 400, 21200, `contract: ${why}`);
  }

  private async handle(req: http.IncomingMessage, body: string, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/(Calls|Messages)(?:\/([^/]+))?\.json$/.exec(url.pathname);
    // Another program's probe on a reused port (no Twilio path, no credentials) is not the notifier's.
    if (!m && !url.pathname.startsWith('/2010-04-01/') && !req.headers.authorization) return this.error(res, 404, 20404, 'Not Found');
    if (!m) return this.violation(res, req, 'not a Calls or Messages resource of API 2010-04-01');
    if (m[1] !== this.accountSid) return this.violation(res, req, `account SID in the path is ${m[1]}, expected ${this.accountSid}`);
    const expected = `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return this.error(res, 401, 20003, 'Authenticate');
    const resource = m[2] as 'Calls' | 'Messages';
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) {
      if (k in query) return this.violation(res, req, `query parameter ${k} repeated`);
      query[k] = v;
    }
    if (req.method === 'GET' && m[3]) {
      if (resource !== 'Calls' || !/^CA[0-9a-f]{32}$/.test(m[3]))
        return this.violation(res, req, 'fetch is used for calls by their CA sid');
      const call = this.resources.find((r) => r.sid === m[3]);
      return call
        ? this.send(res, 200, this.render(call))
        : this.error(res, 404, 20404, `The requested resource ${url.pathname} was not found`);
    }
    if (req.method === 'GET') return this.list(req, res, resource, query);
    if (req.method !== 'POST' || m[3]) return this.violation(res, req, `${req.method} is not how the notifier may use this resource`);
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return this.violation(res, req, `content-type is ${req.headers['content-type']}`);
    }
    const raw = [...new URLSearchParams(body)];
    const form: Record<string, string> = {};
    for (const [k, v] of raw) {
      if (k in form && k !== 'StatusCallbackEvent') return this.violation(res, req, `parameter ${k} repeated`);
      form[k] = k in form ? `${form[k]} ${v}` : v;
    }
    const parsed = (resource === 'Calls' ? callForm : messageForm).safeParse(form);
    if (!parsed.success)
      return this.violation(res, req, parsed.error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`).join('; '));
    const events = raw.filter(([k]) => k === 'StatusCallbackEvent').map(([, v]) => v);
    const bad = events.find((e) => !CALL_EVENTS.has(e));
    if (bad) return this.violation(res, req, `StatusCallbackEvent ${bad} is not one of initiated, ringing, answered, completed`);
    if (resource === 'Calls' && form.Twiml && !/^<Response>[\s\S]*<Say[^>]*>[\s\S]+<\/Say>[\s\S]*<\/Response>$/.test(form.Twiml)) {
      return this.violation(res, req, 'Twiml must be a <Response> with a <Say>');
    }
    const kind = resource === 'Calls' ? 'call' : 'sms';
    const marker =
      kind === 'call'
        ? form.StatusCallback
          ? (new URL(form.StatusCallback).searchParams.get('attempt') ?? undefined)
          : undefined
        : / \(ref ([a-z0-9]+)\)$/.exec(form.Body ?? '')?.[1];
    const shown = { ...form };
    if (kind === 'sms' && marker) shown.Body = form.Body!.replace(/ \(ref [a-z0-9]+\)$/, '');
    const request: TwilioRequest = { kind, accountSid: this.accountSid, form: shown, marker, raw, at: this.now() };
    this.received.push(request);

    const fault = this.faults.find((f) => f.resource === resource && f.times > 0);
    if (fault) fault.times--;
    if (fault && !fault.created) return this.error(res, fault.status, 20500, 'Internal Server Error', fault.delayMs);
    const created = kind === 'call' ? this.createCall(form, events) : this.createMessage(form);
    request.sid = created.sid;
    if (fault && fault.status >= 300) return this.error(res, fault.status, 20500, 'Internal Server Error', fault.delayMs);
    this.send(res, fault?.status ?? 201, this.render(created), fault?.delayMs);
  }

  private list(req: http.IncomingMessage, res: http.ServerResponse, resource: 'Calls' | 'Messages', query: Record<string, string>): void {
    const parsed = (resource === 'Calls' ? callsQuery : messagesQuery).safeParse(query);
    if (!parsed.success)
      return this.violation(res, req, parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
    this.lookups.push({ resource, query });
    const q = parsed.data as Record<string, string | number | undefined>;
    const dateFilter = (value: string | undefined, name: string) => {
      if (q[name] !== undefined && value !== q[name]) return false;
      if (q[`${name}<`] !== undefined && (value === undefined || value > String(q[`${name}<`]))) return false;
      if (q[`${name}>`] !== undefined && (value === undefined || value < String(q[`${name}>`]))) return false;
      return true;
    };
    const items = this.resources
      .filter((r) => r.kind === (resource === 'Calls' ? 'call' : 'sms'))
      .filter((r) => (q.To === undefined || r.to === q.To) && (q.From === undefined || r.from === q.From))
      .filter((r) => q.Status === undefined || r.status === q.Status)
      .filter((r) =>
        resource === 'Calls'
          ? dateFilter(day(r.started), 'StartTime') && dateFilter(day(r.ended), 'EndTime')
          : dateFilter(day(r.started), 'DateSent'),
      )
      .sort((a, b) => b.created - a.created);
    const size = Number(q.PageSize ?? 50);
    const page = Number(q.Page ?? 0);
    const slice = items.slice(page * size, (page + 1) * size);
    const base = `/2010-04-01/Accounts/${this.accountSid}/${resource}.json`;
    this.send(res, 200, {
      [resource.toLowerCase()]: slice.map((r) => this.render(r)),
      end: page * size + Math.max(0, slice.length - 1),
      first_page_uri: `${base}?PageSize=${size}&Page=0`,
      next_page_uri: items.length > (page + 1) * size ? `${base}?PageSize=${size}&Page=${page + 1}` : null,
      page,
      page_size: size,
      previous_page_uri: page > 0 ? `${base}?PageSize=${size}&Page=${page - 1}` : null,
      start: page * size,
      uri: `${base}?PageSize=${size}&Page=${page}`,
    });
  }

  private render(r: Resource): Record<string, unknown> {
    const uri = `/2010-04-01/Accounts/${this.accountSid}/${r.kind === 'call' ? 'Calls' : 'Messages'}/${r.sid}.json`;
    if (r.kind === 'call') {
      return {
        sid: r.sid,
        date_created: rfc2822(r.created),
        date_updated: rfc2822(r.ended ?? r.started ?? r.created),
        parent_call_sid: null,
        account_sid: this.accountSid,
        to: r.to,
        to_formatted: r.to,
        from: r.from,
        from_formatted: r.from,
        phone_number_sid: `PN${hex(16)}`,
        status: r.status,
        start_time: rfc2822(r.started),
        end_time: rfc2822(r.ended),
        duration: r.duration === undefined ? null : String(r.duration),
        price: null,
        price_unit: 'USD',
        direction: 'outbound-api',
        answered_by: null,
        api_version: '2010-04-01',
        forwarded_from: null,
        group_sid: null,
        caller_name: null,
        queue_time: '0',
        trunk_sid: null,
        uri,
        subresource_uris: { events: uri.replace('.json', '/Events.json'), notifications: uri.replace('.json', '/Notifications.json') },
      };
    }
    return {
      account_sid: this.accountSid,
      api_version: '2010-04-01',
      body: r.body,
      date_created: rfc2822(r.created),
      date_sent: rfc2822(r.started),
      date_updated: rfc2822(r.ended ?? r.started ?? r.created),
      direction: 'outbound-api',
      error_code: r.status === 'undelivered' || r.status === 'failed' ? 30003 : null,
      error_message: null,
      from: r.from,
      messaging_service_sid: null,
      num_media: '0',
      num_segments: '1',
      price: null,
      price_unit: 'USD',
      sid: r.sid,
      status: r.status,
      subresource_uris: { media: uri.replace('.json', '/Media.json') },
      to: r.to,
      uri,
    };
  }

  private createCall(form: Record<string, string>, events: string[]): Resource {
    const call: Resource = {
      sid: `CA${hex(16)}`,
      kind: 'call',
      to: form.To!,
      from: form.From!,
      status: 'queued',
      created: this.now(),
      callback: form.StatusCallback,
      // "If no status_callback_event is specified, we will send the completed status."
      events: new Set(form.StatusCallback ? (events.length > 0 ? events : ['completed']) : []),
      sequence: 0,
    };
    this.resources.push(call);
    const queue = this.scripts.get(call.to);
    const outcome: CallScript = queue?.shift() ?? 'answered';
    const ring = this.opts.ringMs ?? 150;
    const talk = this.opts.talkMs ?? 100;
    this.later(10, () => {
      call.status = 'initiated';
      call.started = this.now();
      this.progress(call, 'initiated', 'initiated');
    });
    this.later(Math.max(20, ring / 3), () => {
      if (outcome === 'failed') return;
      call.status = 'ringing';
      this.progress(call, 'ringing', 'ringing');
    });
    this.later(ring, () => {
      if (outcome === 'answered') {
        call.status = 'in-progress';
        this.progress(call, 'answered', 'in-progress');
        this.later(talk, () => {
          call.status = 'completed';
          call.ended = this.now();
          call.duration = Math.max(1, Math.round(talk / 1000));
          this.progress(call, 'completed', 'completed', { CallDuration: String(call.duration), Duration: '1' });
        });
        return;
      }
      call.status = outcome;
      call.ended = this.now();
      call.duration = 0;
      this.progress(call, 'completed', outcome, {
        CallDuration: '0',
        ...(outcome === 'busy'
          ? { SipResponseCode: '486' }
          : outcome === 'no-answer'
            ? { SipResponseCode: '487' }
            : { SipResponseCode: '500' }),
      });
    });
    return call;
  }

  private progress(call: Resource, event: string, status: string, extra: Record<string, string> = {}): void {
    if (!call.callback || !call.events.has(event) || this.silent.has(call.to)) return;
    const params: Record<string, string> = {
      AccountSid: this.accountSid,
      ApiVersion: '2010-04-01',
      CallSid: call.sid,
      CallStatus: status,
      Called: call.to,
      Caller: call.from,
      Direction: 'outbound-api',
      From: call.from,
      To: call.to,
      CallbackSource: 'call-progress-events',
      SequenceNumber: String(call.sequence++),
      Timestamp: rfc2822(this.now())!,
      ...extra,
    };
    void this.postCallback(call.callback, params);
  }

  private createMessage(form: Record<string, string>): Resource {
    const msg: Resource = {
      sid: `SM${hex(16)}`,
      kind: 'sms',
      to: form.To!,
      from: form.From!,
      body: form.Body,
      status: 'queued',
      created: this.now(),
      callback: form.StatusCallback,
      events: new Set(),
      sequence: 0,
    };
    this.resources.push(msg);
    const report = (status: string) => {
      msg.status = status;
      if (!msg.callback || this.silent.has(msg.to)) return;
      const params: Record<string, string> = {
        AccountSid: this.accountSid,
        ApiVersion: '2010-04-01',
        From: msg.from,
        MessageSid: msg.sid,
        MessageStatus: status,
        SmsSid: msg.sid,
        SmsStatus: status,
        To: msg.to,
      };
      void this.postCallback(msg.callback, params);
    };
    this.later(20, () => {
      msg.started = this.now();
      report('sent');
    });
    this.later(60, () => {
      msg.ended = this.now();
      report('delivered');
    });
    return msg;
  }
}

/** The notifier's Twilio variables for this fake. */
export function twilioEnv(fake: TwilioFake): Record<string, string> {
  return {
    TWILIO_API_URL: fake.url,
    TWILIO_ACCOUNT_SID: fake.accountSid,
    TWILIO_AUTH_TOKEN: fake.authToken,
    TWILIO_FROM: TEST_TWILIO.from,
  };
}

/** A started contract fake of Twilio. */
export function startTwilioFake(opts: ConstructorParameters<typeof TwilioFake>[0] = {}): Promise<TwilioFake> {
  return new TwilioFake(opts).start();
}
