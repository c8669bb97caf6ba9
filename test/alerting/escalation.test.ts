import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '@ct/lib';
import { loadNotifierConfig, startNotifier } from '@ct/alerting';
import { freePort, httpStatus, isAlive, killGroup, sleep, spawnDaemon, waitFor } from '../bench/process';
import { startAlertmanager, type AlertmanagerService } from '../bench/services';
import { CT_BIN } from '../helpers/cli';
import { testAlertmanagerConfig } from './generate';
import { groupPayload } from './payloads';
import { startTwilioFake, TEST_TWILIO, twilioEnv, type TwilioFake, type TwilioRequest } from './twilio-contract';

/**
 * Pages escalate along the on-call list, each attempt identified by a marker of its own, outcomes
 * confirmed by Twilio's signed status callbacks (or by asking Twilio for the call), against the
 * Twilio contract fake.
 */

const TOKEN = 'escalation-test-token-0123456789abcdef';
const CALL_TO = ['+15005550401', '+15005550402'];
const SMS_TO = ['+15005550403'];

const baseEnv = (twilio: TwilioFake, port: number, extra: Record<string, string> = {}) => ({
  NOTIFIER_AUTH_TOKEN: TOKEN,
  ...twilioEnv(twilio),
  NOTIFIER_CALL_TO: CALL_TO.join(','),
  NOTIFIER_SMS_TO: SMS_TO.join(','),
  NOTIFIER_PUBLIC_URL: `http://127.0.0.1:${port}`,
  NOTIFIER_RETRY_BACKOFF: '50ms',
  TWILIO_TIMEOUT: '3s',
  NOTIFIER_CALLBACK_WAIT: '1s',
  NOTIFIER_POLL_INTERVAL: '200ms',
  NOTIFIER_RING_TIMEOUT: '5s',
  NOTIFIER_OUTCOME_TIMEOUT: '20s',
  LOG_LEVEL: 'silent',
  ...extra,
});

const metricOf = async (url: string, line: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
};

const until = async <T>(what: string, find: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
};

const calls = (t: TwilioFake) => t.requests().filter((r) => r.kind === 'call');
const texts = (t: TwilioFake) => t.requests().filter((r) => r.kind === 'sms');
const created = (rs: TwilioRequest[]) => rs.filter((r) => r.sid);

describe('call escalation and attempt markers (in-process notifier)', () => {
  let twilio: TwilioFake;
  let notifier: Awaited<ReturnType<typeof startNotifier>>;

  const start = async (extra: Record<string, string> = {}, fake = twilio) => {
    const port = await freePort();
    notifier = await startNotifier({
      config: loadNotifierConfig(baseEnv(fake, port, extra)),
      port,
      logger: createLogger({ level: 'silent' }),
    });
  };
  const post = (receiver: string, body: unknown) =>
    fetch(`${notifier.url}/alerts/${receiver}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(body),
    });
  const metric = (line: string) => metricOf(notifier.url, line);
  const sids = async (res: Response) => ((await res.json()) as { results: { sid: string }[] }).results.map((r) => r.sid);

  beforeAll(async () => {
    twilio = await startTwilioFake();
  });
  afterAll(async () => {
    await twilio?.stop();
  });
  beforeEach(() => twilio.reset());
  afterEach(async () => {
    await notifier?.close(500);
    twilio.assertClean();
  });

  it('does not let two pages to the same number at once mask each other: texts', async () => {
    await start();
    // The first POST fails with a 5xx Twilio may have acted on, but it had not: a lookup matching
    // "any text to this number lately" would take the other page's text for this one.
    twilio.fail({ resource: 'Messages', status: 500, times: 1, created: false });
    const a = groupPayload({ tier: 'text', severity: 'high', alertname: 'WorkflowStuck', summaries: ['hvac: sync stuck'] });
    const b = groupPayload({ tier: 'text', severity: 'high', alertname: 'BackupOverdue', summaries: ['No backup for 8h'] });
    const [ra, rb] = await Promise.all([post('sms', a), post('sms', b)]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    const made = created(texts(twilio));
    expect(made.map((r) => r.form.Body).sort()).toEqual([
      'FIRING high BackupOverdue: No backup for 8h',
      'FIRING high WorkflowStuck: hvac: sync stuck',
    ]);
    expect(twilio.lookups.map((l) => l.resource)).toEqual(['Messages']);
  });

  it('does not let two pages to the same number at once mask each other: calls', async () => {
    await start();
    twilio.fail({ resource: 'Calls', status: 500, times: 1, created: false });
    const a = groupPayload({ alertname: 'DatabaseUnreachable', summaries: ['Platform database unreachable'] });
    const b = groupPayload({ alertname: 'PlatformDown', summaries: ['The platform API is down'] });
    const [ra, rb] = await Promise.all([post('call', a), post('call', b)]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    const made = created(calls(twilio));
    expect(made).toHaveLength(2);
    expect(made.map((r) => r.form.To)).toEqual([CALL_TO[0], CALL_TO[0]]);
    expect(made.some((r) => r.form.Twiml!.includes('Platform database unreachable'))).toBe(true);
    expect(made.some((r) => r.form.Twiml!.includes('The platform API is down'))).toBe(true);
    expect(new Set([...(await sids(ra)), ...(await sids(rb))])).toEqual(new Set(made.map((r) => r.sid)));
  });

  it('finds exactly its own attempt by its marker after Twilio answered too late', async () => {
    await start();
    // Twilio creates all four, and answers each after TWILIO_TIMEOUT (3 s).
    twilio.fail({ resource: 'Messages', status: 201, times: 2, created: true, delayMs: 3500 });
    twilio.fail({ resource: 'Calls', status: 201, times: 2, created: true, delayMs: 3500 });
    const pages = [
      post('sms', groupPayload({ tier: 'text', severity: 'high', alertname: 'WorkflowStuck', summaries: ['first text'] })),
      post('sms', groupPayload({ tier: 'text', severity: 'high', alertname: 'BackupOverdue', summaries: ['second text'] })),
      post('call', groupPayload({ alertname: 'DatabaseUnreachable', summaries: ['first call'] })),
      post('call', groupPayload({ alertname: 'PlatformDown', summaries: ['second call'] })),
    ];
    const answers = await Promise.all(pages);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    // one request each: nothing sent twice
    expect(texts(twilio)).toHaveLength(2);
    expect(calls(twilio)).toHaveLength(2);
    const said = ['first text', 'second text', 'first call', 'second call'];
    for (const [i, res] of answers.entries()) {
      const [sid] = await sids(res);
      const own = twilio.requests().find((r) => r.sid === sid)!;
      expect(own.form.Body ?? own.form.Twiml).toContain(said[i]);
    }
    expect(twilio.lookups.filter((l) => l.resource === 'Messages')).toHaveLength(2);
    expect(twilio.lookups.filter((l) => l.resource === 'Calls')).toHaveLength(0);
  });

  it('refuses a forged status callback with 403 and changes nothing', async () => {
    await start({ NOTIFIER_CALLBACK_WAIT: '60s' });
    twilio.silent.add(CALL_TO[0]!); // the real callbacks are held back: only the test's arrive
    twilio.script(CALL_TO[0]!, ['no-answer']);
    expect((await post('call', groupPayload({ summaries: ['Audit log chain is broken'] }))).status).toBe(200);
    const call = calls(twilio)[0]!;
    const url = call.form.StatusCallback!;
    const answered = {
      AccountSid: TEST_TWILIO.accountSid,
      ApiVersion: '2010-04-01',
      CallSid: call.sid!,
      CallStatus: 'completed',
      CallDuration: '42',
      From: TEST_TWILIO.from,
      To: CALL_TO[0]!,
      Direction: 'outbound-api',
      CallbackSource: 'call-progress-events',
      SequenceNumber: '3',
    };
    const forged = [
      await twilio.postCallback(url, answered, twilio.sign(url, answered, 'not-the-auth-token')),
      await twilio.postCallback(url, answered, twilio.sign(url, { ...answered, CallStatus: 'no-answer' })), // altered after signing
      await twilio.postCallback(url.replace(/attempt=\w+/, 'attempt=aaaaaaaaaa'), answered, twilio.sign(url, answered)), // another URL
      await twilio.postCallback(url, answered, ''),
    ];
    expect(forged).toEqual([403, 403, 403, 403]);
    expect(await metric('ct_notifier_twilio_callbacks_total{kind="call",result="forged"}')).toBe(4);
    expect(await metric('ct_notifier_escalations_active')).toBe(1);
    expect(await metric('ct_notifier_escalations_total{outcome="answered"}')).toBe(0);
    // the genuine one is taken: the page is answered
    expect(await twilio.postCallback(url, answered)).toBe(204);
    await until('the escalation to end', async () => (await metric('ct_notifier_escalations_total{outcome="answered"}')) === 1);
    expect(await metric('ct_notifier_escalations_active')).toBe(0);
    expect(calls(twilio)).toHaveLength(1);
  });

  it('escalates an unanswered call: again, then the next number, who answers; no text', async () => {
    await start();
    twilio.script(CALL_TO[0]!, ['no-answer', 'busy']);
    expect((await post('call', groupPayload({ summaries: ['Platform database unreachable'] }))).status).toBe(200);
    await until('the page to be answered', async () => (await metric('ct_notifier_escalations_total{outcome="answered"}')) === 1);
    expect(calls(twilio).map((r) => r.form.To)).toEqual([CALL_TO[0], CALL_TO[0], CALL_TO[1]]);
    expect(new Set(calls(twilio).map((r) => r.marker)).size).toBe(3);
    expect(texts(twilio)).toHaveLength(0);
    expect(await metric('ct_notifier_calls_unanswered_total{status="no-answer"}')).toBe(1);
    expect(await metric('ct_notifier_calls_unanswered_total{status="busy"}')).toBe(1);
    expect(await metric('ct_notifier_escalation_steps_total{step="retry"}')).toBe(1);
    expect(await metric('ct_notifier_escalation_steps_total{step="next_number"}')).toBe(1);
    await sleep(500);
    expect(texts(twilio)).toHaveLength(0);
  });

  it('texts the SMS list when no call is answered', async () => {
    await start();
    twilio.script(CALL_TO[0]!, ['no-answer', 'failed']);
    twilio.script(CALL_TO[1]!, ['busy', 'no-answer']);
    expect((await post('call', groupPayload({ summaries: ['Platform database unreachable'] }))).status).toBe(200);
    await until('the escalation text', async () => (await metric('ct_notifier_escalations_total{outcome="texted"}')) === 1);
    expect(calls(twilio).map((r) => r.form.To)).toEqual([CALL_TO[0], CALL_TO[0], CALL_TO[1], CALL_TO[1]]);
    expect(texts(twilio).map((r) => [r.form.To, r.form.Body])).toEqual([
      [SMS_TO[0], 'FIRING critical DatabaseUnreachable: Platform database unreachable'],
    ]);
    expect(await metric('ct_notifier_escalation_steps_total{step="sms"}')).toBe(1);
    expect(await metric('ct_notifier_calls_unanswered_total{status="failed"}')).toBe(1);
  });

  it('stops escalating when the alerts resolve', async () => {
    await start({ NOTIFIER_CALLBACK_WAIT: '60s' });
    twilio.silent.add(CALL_TO[0]!); // the first call rings on, with no outcome
    const firing = groupPayload({ summaries: ['Platform database unreachable'] });
    expect((await post('call', firing)).status).toBe(200);
    expect((await post('call', groupPayload({ status: 'resolved', summaries: ['Platform database unreachable'] }))).status).toBe(200);
    await until('the escalation to stop', async () => (await metric('ct_notifier_escalations_total{outcome="resolved"}')) === 1);
    expect(calls(twilio)).toHaveLength(1);
  });

  it('learns the outcome from the call resource when no callback arrives', async () => {
    await start({ NOTIFIER_CALLBACK_WAIT: '500ms' });
    twilio.silent.add(CALL_TO[0]!);
    twilio.script(CALL_TO[0]!, ['busy']);
    expect((await post('call', groupPayload({ summaries: ['Platform database unreachable'] }))).status).toBe(200);
    await until('the page to be answered', async () => (await metric('ct_notifier_escalations_total{outcome="answered"}')) === 1);
    // busy learnt by polling, then the retry's answer by its callbacks… or by polling too (same number, silent)
    expect(calls(twilio).map((r) => r.form.To)).toEqual([CALL_TO[0], CALL_TO[0]]);
    expect(await metric('ct_notifier_calls_unanswered_total{status="busy"}')).toBe(1);
  });

  it('does not depend on the clocks of the notifier and Twilio agreeing', async () => {
    for (const skew of [-3 * 3600_000, 3 * 3600_000]) {
      const skewed = await startTwilioFake({ clockSkewMs: skew });
      try {
        await start({}, skewed);
        skewed.fail({ resource: 'Messages', status: 201, times: 1, created: true, delayMs: 3500 });
        skewed.fail({ resource: 'Calls', status: 201, times: 1, created: true, delayMs: 3500 });
        skewed.script(CALL_TO[0]!, ['no-answer']);
        const [text, call] = await Promise.all([
          post('sms', groupPayload({ tier: 'text', severity: 'high', alertname: 'WorkflowStuck', summaries: ['late text'] })),
          post('call', groupPayload({ summaries: ['late call'] })),
        ]);
        expect([text.status, call.status]).toEqual([200, 200]);
        expect(texts(skewed)).toHaveLength(1);
        await until('the page to be answered', async () => (await metric('ct_notifier_escalations_total{outcome="answered"}')) === 1);
        expect(calls(skewed).map((r) => r.form.To)).toEqual([CALL_TO[0], CALL_TO[0]]);
        skewed.assertClean();
      } finally {
        await notifier.close(500);
        await skewed.stop();
      }
    }
  });
});

describe('a restart in the middle of an escalation', () => {
  let dir: string;
  let twilio: TwilioFake;
  let am: AlertmanagerService;
  let port: number;
  let pid = 0;
  const stateFile = () => path.join(dir, 'state', 'notifier.json');

  /** `ct serve notifier`, as an operator runs it, with its state file. */
  const launch = async () => {
    const logFile = path.join(dir, 'notifier.log');
    pid = spawnDaemon(process.execPath, [CT_BIN, 'serve', 'notifier', '--port', String(port)], {
      logFile,
      env: {
        PATH: process.env.PATH,
        ...baseEnv(twilio, port, { NOTIFIER_STATE_FILE: stateFile(), NOTIFIER_CALLBACK_WAIT: '2s', LOG_LEVEL: 'info', LOG_FORMAT: 'json' }),
      },
    });
    await waitFor('notifier', async () => (await httpStatus(`http://127.0.0.1:${port}/healthz`)) === 200, {
      timeoutMs: 20_000,
      logFile,
      pid,
    });
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-escalation-'));
    // Calls ring 4 s before their outcome: long enough to kill the notifier mid-ring.
    twilio = await startTwilioFake({ ringMs: 4000 });
    port = await freePort();
    writeFileSync(path.join(dir, 'token'), TOKEN);
    am = await startAlertmanager(dir, {
      config: testAlertmanagerConfig({
        notifierUrl: `http://127.0.0.1:${port}`,
        notifierTokenFile: path.join(dir, 'token'),
        heartbeatUrl: 'http://127.0.0.1:9',
        heartbeatKeyFile: path.join(dir, 'token'),
        smtp: { host: '127.0.0.1', port: 9 },
        groupInterval: '1s',
      }),
    });
  }, 60_000);
  afterAll(async () => {
    if (pid) await killGroup(pid);
    await am?.stop();
    await twilio?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('neither rings twice nor loses the escalation', async () => {
    await launch();
    twilio.script(CALL_TO[0]!, ['no-answer']);
    // Milliseconds without a trailing zero: Alertmanager's API prints three digits, its webhooks trim zeros.
    const startsAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 123).toISOString();
    const res = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([
        {
          labels: { alertname: 'DatabaseUnreachable', tier: 'call', severity: 'critical', instance: 'db:5432' },
          annotations: {
            summary: 'Platform database unreachable',
            description: 'x',
            runbook_url: 'https://ct-platform.example/docs/runbooks.md#x',
          },
          startsAt,
        },
      ]),
    });
    expect(res.status).toBe(200);
    const first = await until('the first call', () => calls(twilio)[0], 30_000);
    expect(first.form.To).toBe(CALL_TO[0]);

    // The notifier dies (SIGKILL) while the phone rings; the no-answer callback finds nobody.
    await sleep(500);
    process.kill(-pid, 'SIGKILL');
    await until('the notifier to be gone', () => !isAlive(pid));
    await until(
      'the no-answer callback to be refused',
      () => twilio.callbacks.find((c) => c.params.CallStatus === 'no-answer' && c.status === 0),
      10_000,
    );

    await launch();
    // It takes the escalation up again: asks Twilio about the call it had placed, then calls again.
    await until('the retry call', () => calls(twilio)[1], 20_000);
    await until(
      'the page to be answered',
      async () => (await metricOf(`http://127.0.0.1:${port}`, 'ct_notifier_escalations_total{outcome="answered"}')) === 1,
      20_000,
    );
    const placed = calls(twilio);
    expect(placed.map((r) => r.form.To)).toEqual([CALL_TO[0], CALL_TO[0]]);
    expect(placed[1]!.marker).not.toBe(first.marker);
    expect(twilio.lookups).toEqual([]); // the call was found by its sid, not looked for
    expect(await metricOf(`http://127.0.0.1:${port}`, 'ct_notifier_calls_unanswered_total{status="no-answer"}')).toBe(1);

    // Alertmanager's repeat of the same alert (its fingerprint and start, as its API reports them):
    // the restarted notifier remembers it paged about it.
    const [alert] = (await (await fetch(`${am.url}/api/v2/alerts`)).json()) as { fingerprint: string; startsAt: string }[];
    const repeat = groupPayload({ summaries: ['Platform database unreachable'] });
    repeat.alerts[0] = { ...repeat.alerts[0]!, fingerprint: alert!.fingerprint, startsAt: alert!.startsAt };
    const again = await fetch(`http://127.0.0.1:${port}/alerts/call`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(repeat),
    });
    expect(again.status).toBe(200);
    expect(await metricOf(`http://127.0.0.1:${port}`, 'ct_notifier_notifications_deduplicated_total{channel="call"}')).toBe(1);
    await sleep(500);
    expect(calls(twilio)).toHaveLength(2);
    expect(texts(twilio)).toHaveLength(0);
    twilio.assertClean();
  }, 90_000);
});
