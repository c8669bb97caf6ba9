import { z } from 'zod';

/**
 * Contract of the Twilio REST API the notifier calls, as Twilio documents it
 * (https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource,
 *  https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource):
 *   POST /2010-04-01/Accounts/{AccountSid}/Calls.json     form: To, From, and Twiml or Url
 *   POST /2010-04-01/Accounts/{AccountSid}/Messages.json  form: To, From, and Body (≤ 1,600 characters)
 * application/x-www-form-urlencoded, HTTP basic auth AccountSid:AuthToken. The bench's HTTP sink
 * records what the notifier sent; this checks each recorded request against that contract.
 */

export interface SinkRequest {
  at: string;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be E.164');
const CALL_PARAMS = new Set([
  'To',
  'From',
  'Twiml',
  'Url',
  'Method',
  'StatusCallback',
  'StatusCallbackEvent',
  'Timeout',
  'MachineDetection',
]);
const MESSAGE_PARAMS = new Set(['To', 'From', 'Body', 'MessagingServiceSid', 'StatusCallback', 'MediaUrl', 'ValidityPeriod']);

const callForm = z
  .object({ To: e164, From: e164, Twiml: z.string().max(4000).optional(), Url: z.string().url().optional() })
  .refine((f) => Boolean(f.Twiml) !== Boolean(f.Url), 'exactly one of Twiml or Url');
const messageForm = z.object({ To: e164, From: e164, Body: z.string().min(1).max(1600) });

export interface TwilioRequest {
  kind: 'call' | 'sms';
  accountSid: string;
  form: Record<string, string>;
  at: number;
}

/** Checks one recorded request; throws naming what breaks the contract. */
export function checkTwilioRequest(req: SinkRequest, creds: { accountSid: string; authToken: string }): TwilioRequest {
  const fail = (why: string): never => {
    throw new Error(`request ${req.method} ${req.path} breaks the Twilio contract: ${why}`);
  };
  if (req.method !== 'POST') fail('method must be POST');
  const m = /^\/2010-04-01\/Accounts\/(AC[0-9a-fA-F]{32})\/(Calls|Messages)\.json$/.exec(req.path);
  if (!m) return fail('path must be /2010-04-01/Accounts/{AccountSid}/Calls.json or Messages.json');
  if (m[1] !== creds.accountSid) fail(`account SID in the path is ${m[1]}, expected ${creds.accountSid}`);
  const contentType = String(req.headers['content-type'] ?? '');
  if (!contentType.startsWith('application/x-www-form-urlencoded')) fail(`content-type is ${contentType}`);
  const auth = String(req.headers.authorization ?? '');
  const expected = `Basic ${Buffer.from(`${creds.accountSid}:${creds.authToken}`).toString('base64')}`;
  if (auth !== expected) fail('HTTP basic auth must be AccountSid:AuthToken');
  const params = new URLSearchParams(req.body);
  const form: Record<string, string> = {};
  for (const [k, v] of params) {
    if (k in form) fail(`parameter ${k} repeated`);
    form[k] = v;
  }
  const kind = m[2] === 'Calls' ? 'call' : 'sms';
  const allowed = kind === 'call' ? CALL_PARAMS : MESSAGE_PARAMS;
  for (const k of Object.keys(form)) if (!allowed.has(k)) fail(`unknown parameter ${k}`);
  const parsed = (kind === 'call' ? callForm : messageForm).safeParse(form);
  if (!parsed.success) fail(parsed.error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`).join('; '));
  if (kind === 'call' && form.Twiml && !/^<Response>[\s\S]*<Say[^>]*>[\s\S]+<\/Say>[\s\S]*<\/Response>$/.test(form.Twiml)) {
    fail('Twiml must be a <Response> with a <Say>');
  }
  return { kind, accountSid: m[1]!, form, at: Date.parse(req.at) };
}

/** The calls and messages a sink was asked to create (contract-checked), oldest first. */
export async function twilioRequests(sinkUrl: string, creds: { accountSid: string; authToken: string }): Promise<TwilioRequest[]> {
  const all = (await (await fetch(`${sinkUrl}/_sink/requests`)).json()) as SinkRequest[];
  return all.filter((r) => r.path.startsWith('/2010-04-01/') && r.method !== 'GET').map((r) => checkTwilioRequest(r, creds));
}

/** The list lookups (GET Calls.json / Messages.json ?To=&From=) a sink received, oldest first. */
export async function twilioLookups(sinkUrl: string): Promise<{ resource: string; to: string | null; from: string | null }[]> {
  const all = (await (await fetch(`${sinkUrl}/_sink/requests`)).json()) as SinkRequest[];
  return all
    .filter((r) => r.method === 'GET' && r.path.startsWith('/2010-04-01/'))
    .map((r) => {
      const u = new URL(r.path, 'http://sink');
      return { resource: u.pathname.split('/').at(-1)!, to: u.searchParams.get('To'), from: u.searchParams.get('From') };
    });
}

/**
 * Programs the sink to answer like Twilio: 201 with a resource sid, after `fail` (if given): the
 * first `times` requests to that resource get `status` with Twilio's error body, `delayMs` late.
 * Lists (GET) answer `created` for that resource, else nothing.
 */
export async function programTwilio(
  sinkUrl: string,
  accountSid: string,
  fail?: { resource: 'Calls' | 'Messages'; status: number; times: number; delayMs?: number },
  created?: { resource: 'Calls' | 'Messages'; to: string[]; from: string },
): Promise<void> {
  const program = (entry: unknown) =>
    fetch(`${sinkUrl}/_sink/responses`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(entry) });
  await fetch(`${sinkUrl}/_sink/responses`, { method: 'DELETE' });
  // The sink answers with the first matching entry that is not used up.
  for (const resource of ['Calls', 'Messages'] as const) {
    const listed = created?.resource === resource ? created.to : [];
    await program({
      path: `/2010-04-01/Accounts/${accountSid}/${resource}.json`,
      method: 'GET',
      status: 200,
      body: {
        [resource.toLowerCase()]: listed.map((to, i) => ({
          sid: `${resource === 'Calls' ? 'CA' : 'SM'}${String(i + 1).padStart(32, '0')}`,
          to,
          from: created!.from,
          date_created: new Date().toUTCString(),
        })),
      },
    });
  }
  if (fail) {
    await program({
      path: `/2010-04-01/Accounts/${accountSid}/${fail.resource}.json`,
      status: fail.status,
      times: fail.times,
      delayMs: fail.delayMs,
      body:
        fail.status < 300
          ? { sid: 'CA00000000000000000000000000000001', status: 'queued' }
          : { code: 20500, message: 'Internal Server Error', more_info: 'https://www.twilio.com/docs/errors/20500', status: fail.status },
    });
  }
  await program({
    path: `/2010-04-01/Accounts/${accountSid}/Calls.json`,
    status: 201,
    body: { sid: 'CA00000000000000000000000000000001', status: 'queued' },
  });
  await program({
    path: `/2010-04-01/Accounts/${accountSid}/Messages.json`,
    status: 201,
    body: { sid: 'SM00000000000000000000000000000001', status: 'queued' },
  });
}

export const TEST_TWILIO = {
  accountSid: 'AC0123456789abcdef0123456789abcdef',
  authToken: 'test-auth-token-not-secret',
  from: '+15005550006',
};
