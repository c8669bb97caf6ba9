import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '@ct/lib';
import { loadNotifierConfig, startNotifier } from '@ct/alerting';
import { freePort, sleep } from '../bench/process';
import { startAlertmanager, type AlertmanagerService } from '../bench/services';
import { testAlertmanagerConfig } from './generate';
import { startTwilioFake, twilioEnv, type TwilioFake, type TwilioRequest } from './twilio-contract';

/**
 * The call tier per alert, with the payloads a real Alertmanager sends: two alerts of one group
 * fire (one page: a call to the first on-call number, who answers), one resolves while the other still fires (Alertmanager
 * re-sends the group as `firing` with a changed alert set: a text, no call), a third joins (a call
 * about it alone), then the rest resolve (a text).
 */

const TOKEN = 'partial-resolution-token-0123456789abcdef';
const CALL_TO = ['+15005550301', '+15005550302'];

describe('call tier: a partial resolution does not ring again', () => {
  let dir: string;
  let twilio: TwilioFake;
  let am: AlertmanagerService;
  let notifier: Awaited<ReturnType<typeof startNotifier>>;
  const alert = (instance: string, summary: string, endsAt?: Date) => ({
    labels: { alertname: 'DiskSpaceLow', tier: 'call', severity: 'critical', instance, mountpoint: '/' },
    annotations: { summary, description: summary, runbook_url: 'https://ct-platform.example/docs/runbooks.md#diskspacelow' },
    startsAt: new Date().toISOString(),
    ...(endsAt ? { endsAt: endsAt.toISOString() } : {}),
  });
  const post = async (alerts: unknown[]) => {
    const res = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(alerts),
    });
    expect(res.status).toBe(200);
  };
  const received = async () => {
    const text = await (await fetch(`${notifier.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('ct_notifier_webhooks_received_total{receiver="call"'))
      .reduce((n, l) => n + Number(l.split(' ')[1]), 0);
  };
  /** Waits for the next webhook Alertmanager sends, then for its deliveries to be recorded. */
  const nextWebhook = async (before: number) => {
    for (let i = 0; i < 100 && (await received()) <= before; i++) await sleep(100);
    expect(await received()).toBeGreaterThan(before);
    await sleep(300);
  };
  const sent = async () => (twilio.assertClean(), twilio.requests());
  const said = (r: TwilioRequest) => r.form.Twiml ?? r.form.Body ?? '';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-partial-'));
    twilio = await startTwilioFake();
    const port = await freePort();
    notifier = await startNotifier({
      config: loadNotifierConfig({
        NOTIFIER_AUTH_TOKEN: TOKEN,
        ...twilioEnv(twilio),
        NOTIFIER_PUBLIC_URL: `http://127.0.0.1:${port}`,
        NOTIFIER_CALL_TO: CALL_TO.join(','),
        NOTIFIER_SMS_TO: '+15005550303',
        LOG_LEVEL: 'silent',
      }),
      port,
      logger: createLogger({ level: 'silent' }),
    });
    writeFileSync(path.join(dir, 'token'), TOKEN);
    am = await startAlertmanager(dir, {
      config: testAlertmanagerConfig({
        notifierUrl: notifier.url,
        notifierTokenFile: path.join(dir, 'token'),
        heartbeatUrl: 'http://127.0.0.1:9',
        heartbeatKeyFile: path.join(dir, 'token'),
        smtp: { host: '127.0.0.1', port: 9 },
      }),
    });
  }, 60_000);
  afterAll(async () => {
    await am?.stop();
    await notifier?.close(1000);
    await twilio?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('calls for new alerts only and texts each resolution', async () => {
    const a = alert('db-1:9100', 'Disk almost full on db-1');
    const b = alert('db-2:9100', 'Disk almost full on db-2');
    await post([a, b]);
    await nextWebhook(0);
    let got = await sent();
    expect(got.map((r) => [r.kind, r.form.To])).toEqual([['call', CALL_TO[0]]]);
    expect(said(got[0]!)).toContain('2 critical alerts. Disk almost full on db-1. Disk almost full on db-2.');

    // db-1 recovers: Alertmanager sends the group again, still firing, with db-1 resolved
    await post([{ ...a, endsAt: new Date().toISOString() }]);
    await nextWebhook(1);
    got = (await sent()).slice(1);
    expect(got.map((r) => [r.kind, r.form.To]).sort()).toEqual(CALL_TO.map((to) => ['sms', to]));
    expect(said(got[0]!)).toBe('RESOLVED critical DiskSpaceLow: Disk almost full on db-1');

    // db-3 joins: a call about db-3 alone
    const c = alert('db-3:9100', 'Disk almost full on db-3');
    await post([b, c]);
    await nextWebhook(2);
    got = (await sent()).slice(3);
    expect(got.map((r) => [r.kind, r.form.To])).toEqual([['call', CALL_TO[0]]]);
    expect(said(got[0]!)).toContain('1 critical alert. Disk almost full on db-3.');
    expect(said(got[0]!)).not.toContain('db-2');

    // all resolve: one text per number about the two still open
    const now = new Date().toISOString();
    await post([
      { ...b, endsAt: now },
      { ...c, endsAt: now },
    ]);
    await nextWebhook(3);
    got = (await sent()).slice(4);
    expect(got.map((r) => [r.kind, r.form.To]).sort()).toEqual(CALL_TO.map((to) => ['sms', to]));
    expect(said(got[0]!)).toBe('RESOLVED critical DiskSpaceLow: Disk almost full on db-2 (2 alerts)');
    expect((await sent()).filter((r) => r.kind === 'call')).toHaveLength(2);
  }, 60_000);
});
