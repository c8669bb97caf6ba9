import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../test/bench/process';
import { groupPayload } from '../../test/alerting/payloads';
import { startTwilioFake, TEST_TWILIO, twilioEnv, type TwilioFake } from '../../test/alerting/twilio-contract';
import { loadNotifierConfig } from './config';
import { smsText } from './format';
import { startNotifier } from './notifier';
import { createLogger } from '@ct/lib';

/** The notifier against the Twilio contract fake. */
describe('notifier', () => {
  const TOKEN = 'notifier-test-token-0123456789abcdef';
  const CALL_TO = ['+15005550101', '+15005550102'];
  const SMS_TO = ['+15005550103'];
  let dir: string;
  let twilio: TwilioFake;
  let notifier: Awaited<ReturnType<typeof startNotifier>>;

  const env = (extra: Record<string, string> = {}) => ({
    NOTIFIER_AUTH_TOKEN: TOKEN,
    ...twilioEnv(twilio),
    NOTIFIER_CALL_TO: CALL_TO.join(','),
    NOTIFIER_SMS_TO: SMS_TO.join(','),
    NOTIFIER_RETRY_BACKOFF: '50ms',
    TWILIO_TIMEOUT: '2s',
    LOG_LEVEL: 'silent',
    ...extra,
  });
  const post = (receiver: string, body: unknown, token: string | null = TOKEN) =>
    fetch(`${notifier.url}/alerts/${receiver}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const requests = async () => twilio.requests();
  const metric = async (line: string) => {
    const text = await (await fetch(`${notifier.url}/metrics`)).text();
    const found = text.split('\n').find((l) => l.startsWith(`${line} `));
    return found ? Number(found.slice(line.length + 1)) : 0;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-notifier-'));
    twilio = await startTwilioFake();
    const port = await freePort();
    notifier = await startNotifier({
      config: loadNotifierConfig(env({ NOTIFIER_PUBLIC_URL: `http://127.0.0.1:${port}` })),
      port,
      logger: createLogger({ level: 'silent' }),
    });
  });
  afterAll(async () => {
    await notifier?.close(1000);
    await twilio?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => twilio.reset());
  afterEach(() => twilio.assertClean());

  it('serves health and its own metrics', async () => {
    expect((await fetch(`${notifier.url}/healthz`)).status).toBe(200);
    const text = await (await fetch(`${notifier.url}/metrics`)).text();
    expect(text).toContain('# TYPE ct_notifier_notifications_sent_total counter');
    expect(text).toContain('# TYPE ct_notifier_notifications_failed_total counter');
    expect(text).toContain('ct_notifier_process_cpu_seconds_total');
  });

  it('refuses requests without the right bearer token, before reading them', async () => {
    const payload = groupPayload({});
    expect((await post('call', payload, null)).status).toBe(401);
    const wrong = await post('call', payload, `${TOKEN}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    expect(await requests()).toHaveLength(0);
    expect(await metric('ct_notifier_webhooks_rejected_total{reason="unauthorized"}')).toBe(2);
  });

  it('answers 400 naming the field for a payload that is not an Alertmanager webhook v4', async () => {
    const res = await post('call', { ...groupPayload({}), version: '3' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^invalid Alertmanager webhook payload: version:/);
    const noAlerts = await post('sms', { ...groupPayload({}), alerts: [] });
    expect(((await noAlerts.json()) as { error: string }).error).toMatch(/alerts:/);
    const malformed = await post('sms', '{"version": ');
    expect(malformed.status).toBe(400);
    expect((await post('pager', groupPayload({}))).status).toBe(404);
    expect(await requests()).toHaveLength(0);
  });

  it('pages the first on-call number with a spoken summary, answering 200 once Twilio accepted', async () => {
    const payload = groupPayload({ summaries: ['Platform database unreachable', 'Disk almost full on host:9100 /'] });
    const res = await post('call', payload);
    expect(res.status).toBe(200);
    const sent = await requests();
    expect(sent.map((r) => [r.kind, r.form.To])).toEqual([['call', CALL_TO[0]]]);
    const r = sent[0]!;
    expect(r.form.From).toBe(TEST_TWILIO.from);
    expect(r.form.Twiml).toContain('<Say language="en-US">CT Platform alert. 2 critical alerts. Platform database unreachable.');
    expect(r.form.Twiml).toContain('Disk almost full on host:9100 /.');
    expect(r.form.StatusCallback).toBe(`${notifier.url}/twilio/status?attempt=${r.marker}`);
    expect(r.raw.filter(([k]) => k === 'StatusCallbackEvent').map(([, v]) => v)).toEqual(['initiated', 'ringing', 'answered', 'completed']);
    const body = (await res.json()) as { results: { outcome: string; sid: string }[] };
    expect(body.results.map((x) => x.outcome)).toEqual(['sent']);
    expect(body.results[0]!.sid).toBe(r.sid);
  });

  it('delivers a repeated webhook (same group, status and alerts) once', async () => {
    const payload = groupPayload({ alertname: 'AuditChainInvalid', summaries: ['Audit log chain is broken'] });
    const before = await metric('ct_notifier_notifications_deduplicated_total{channel="call"}');
    expect((await post('call', payload)).status).toBe(200);
    // two Alertmanagers of a cluster sending at once, then a late retry
    const [a, b] = await Promise.all([post('call', payload), post('call', payload)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await requests()).toHaveLength(1);
    expect(await metric('ct_notifier_notifications_deduplicated_total{channel="call"}')).toBe(before + 2);
    // a new alert joining the group is news
    const grown = groupPayload({ alertname: 'AuditChainInvalid', summaries: ['Audit log chain is broken', 'second'] });
    expect((await post('call', grown)).status).toBe(200);
    expect(await requests()).toHaveLength(2);
  });

  it('texts the resolution of a call-tier alert instead of calling again', async () => {
    const res = await post('call', groupPayload({ status: 'resolved' }));
    expect(res.status).toBe(200);
    const sent = await requests();
    expect(sent.map((r) => [r.kind, r.form.To]).sort()).toEqual(CALL_TO.map((to) => ['sms', to]));
    expect(sent[0]!.form.Body).toBe('RESOLVED critical DatabaseUnreachable: Platform database unreachable');
  });

  it('texts the text tier: one SMS per number, cut to 160 characters', async () => {
    const payload = groupPayload({
      tier: 'text',
      severity: 'high',
      alertname: 'WorkflowStuck',
      client: 'hvac',
      summaries: [`hvac: workflow sync stuck for 31m 0s ${'and a very long explanation '.repeat(6)}`],
    });
    expect((await post('sms', payload)).status).toBe(200);
    const sent = await requests();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ kind: 'sms', form: { To: SMS_TO[0], From: TEST_TWILIO.from } });
    // the text, cut so that it and the attempt's marker fit one 160-character segment
    const body = sent[0]!.raw.find(([k]) => k === 'Body')![1];
    expect(body).toHaveLength(160);
    expect(body).toMatch(/^FIRING high WorkflowStuck hvac: hvac: workflow sync stuck for 31m 0s .*\.\.\. \(ref [a-z0-9]{10}\)$/);
    expect(smsText(payload).startsWith(sent[0]!.form.Body!.slice(0, -3))).toBe(true);
  });

  it('retries a provider error with backoff, once Twilio lists no message of it, and answers 200 when a retry is accepted', async () => {
    twilio.fail({ resource: 'Messages', status: 500, times: 1, created: false });
    const res = await post('sms', groupPayload({ tier: 'text', alertname: 'N8nDown', summaries: ['n8n is unreachable'] }));
    expect(res.status).toBe(200);
    const sent = await requests();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.marker).toBe(sent[0]!.marker); // the same attempt, sent again
    expect(twilio.lookups).toEqual([{ resource: 'Messages', query: { To: SMS_TO[0], From: TEST_TWILIO.from, PageSize: '50' } }]);
  });

  it('never calls twice when Twilio answers too late: the status callbacks of the attempt name its call', async () => {
    // Twilio places the call but answers after TWILIO_TIMEOUT (2 s); its callbacks come meanwhile.
    twilio.fail({ resource: 'Calls', status: 201, times: 1, created: true, delayMs: 2500 });
    const res = await post('call', groupPayload({ tier: 'call', alertname: 'PlatformDown', summaries: ['The platform API is down'] }));
    expect(res.status).toBe(200);
    const sent = await requests();
    expect(sent.map((r) => r.form.To)).toEqual([CALL_TO[0]]);
    expect(((await res.json()) as { results: { sid: string }[] }).results[0]!.sid).toBe(sent[0]!.sid);
  });

  it('answers 502 when the provider keeps failing, so Alertmanager retries; the retry is delivered', async () => {
    const failedBefore = await metric('ct_notifier_notifications_failed_total{channel="sms",reason="provider_error"}');
    twilio.fail({ resource: 'Messages', status: 503, times: 3, created: false });
    const payload = groupPayload({ tier: 'text', alertname: 'BackupOverdue', summaries: ['No database backup for 8h 0m 30s'] });
    const res = await post('sms', payload);
    expect(res.status).toBe(502);
    expect(((await res.json()) as { results: { reason: string }[] }).results[0]!.reason).toBe('provider_error');
    expect(await requests()).toHaveLength(3); // NOTIFIER_PROVIDER_ATTEMPTS
    expect(await metric('ct_notifier_notifications_failed_total{channel="sms",reason="provider_error"}')).toBe(failedBefore + 1);
    // Alertmanager's retry: the failure was not remembered as delivered
    expect((await post('sms', payload)).status).toBe(200);
    expect(await requests()).toHaveLength(4);
  });

  it('does not retry a request Twilio rejects as invalid', async () => {
    twilio.fail({ resource: 'Messages', status: 400, times: 5, created: false });
    const res = await post('sms', groupPayload({ tier: 'text', alertname: 'ApiSlow', summaries: ['API slow'] }));
    expect(res.status).toBe(502);
    expect(((await res.json()) as { results: { reason: string }[] }).results[0]!.reason).toBe('provider_rejected');
    expect(await requests()).toHaveLength(1);
  });

  it('reports an unreachable provider as a 502 with reason network', async () => {
    const offline = await startNotifier({
      config: loadNotifierConfig(env({ TWILIO_API_URL: 'http://127.0.0.1:9', NOTIFIER_PROVIDER_ATTEMPTS: '2' })),
      port: 0,
      logger: createLogger({ level: 'silent' }),
    });
    try {
      const res = await fetch(`${offline.url}/alerts/sms`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(groupPayload({ tier: 'text' })),
      });
      expect(res.status).toBe(502);
      expect(((await res.json()) as { results: { reason: string }[] }).results[0]!.reason).toBe('network');
    } finally {
      await offline.close(500);
    }
  });
});

describe('notifier configuration', () => {
  it('reads the on-call list in order and refuses an outcome timeout within the ring time', () => {
    const base = {
      NOTIFIER_AUTH_TOKEN: 'x'.repeat(32),
      TWILIO_ACCOUNT_SID: TEST_TWILIO.accountSid,
      TWILIO_AUTH_TOKEN: 't',
      TWILIO_FROM: TEST_TWILIO.from,
      NOTIFIER_CALL_TO: '+15005550102, +15005550101',
      NOTIFIER_SMS_TO: '+15005550103',
    };
    const config = loadNotifierConfig({ ...base, NOTIFIER_PUBLIC_URL: 'https://ops.example.com/' });
    expect(config.NOTIFIER_CALL_TO).toEqual(['+15005550102', '+15005550101']);
    expect(config.NOTIFIER_PUBLIC_URL).toBe('https://ops.example.com');
    expect(config.NOTIFIER_CALL_ATTEMPTS).toBe(2);
    expect(() => loadNotifierConfig({ ...base, NOTIFIER_RING_TIMEOUT: '2m', NOTIFIER_OUTCOME_TIMEOUT: '90s' })).toThrow(
      /NOTIFIER_OUTCOME_TIMEOUT: must be longer than NOTIFIER_RING_TIMEOUT/,
    );
    expect(() => loadNotifierConfig({ ...base, NOTIFIER_RING_TIMEOUT: '1s' })).toThrow(/NOTIFIER_RING_TIMEOUT: must be at least 5s/);
  });

  it('names every missing or malformed variable', () => {
    expect(() => loadNotifierConfig({ TWILIO_ACCOUNT_SID: 'nope', NOTIFIER_CALL_TO: '+1555, 12' })).toThrow(
      /NOTIFIER_AUTH_TOKEN: is required but not set[\s\S]*TWILIO_ACCOUNT_SID: must be a Twilio Account SID[\s\S]*NOTIFIER_CALL_TO: must be an E.164 phone number/,
    );
  });
});
