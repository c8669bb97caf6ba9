import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CALL_TO, HEARTBEAT_KEY, SMS_TO, startPipeline, type Pipeline } from './pipeline';

/**
 * End to end on the bench: real Prometheus and Alertmanager loaded with configurations generated
 * from prometheus.yml, alertmanager.yml and alerting/rules, `ct serve notifier`, a contract-checked
 * fake Twilio and the SMTP sink. One alert of each tier is caused for real and followed to where
 * its tier delivers it, then resolved.
 */

const now = () => Math.floor(Date.now() / 1000);
const exporterMetrics = (o: { dbUp: number; churn: number; backupAt: number }) => `# TYPE ct_database_up gauge
ct_database_up ${o.dbUp}
# TYPE ct_client_churn_risk gauge
ct_client_churn_risk{client="pizza"} ${o.churn}
ct_client_churn_risk{client="plumber"} 0
# TYPE ct_backup_last_success_timestamp_seconds gauge
ct_backup_last_success_timestamp_seconds{kind="database"} ${o.backupAt}
# TYPE ct_backup_consecutive_failures gauge
ct_backup_consecutive_failures{kind="database"} 0
# TYPE ct_audit_chain_valid gauge
ct_audit_chain_valid 1
`;
const report = (line: string) => process.stdout.write(`[alerting e2e] ${line}\n`);

describe('alert delivery per tier (end to end)', () => {
  let dir: string;
  let p: Pipeline;
  const state = { dbUp: 1, churn: 0, backupAt: now() - 3 * 3600 };
  const set = (change: Partial<typeof state>) => {
    Object.assign(state, change);
    p.exporters.text = exporterMetrics(state);
  };
  const since = (t: number) => (x: { at: string | number }) => (typeof x.at === 'number' ? x.at : Date.parse(x.at)) >= t;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-alerting-e2e-'));
    p = await startPipeline(dir, { exporterMetrics: exporterMetrics(state) });
  }, 90_000);
  afterAll(async () => {
    await p?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("delivers the Watchdog heartbeat to the dead man's switch, authenticated", async () => {
    const beat = await p.waitFor('a heartbeat', async () => (await p.heartbeats())[0]);
    expect(beat.headers.authorization).toBe(`GenieKey ${HEARTBEAT_KEY}`);
    expect(beat.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(beat.body) as { version: string; receiver: string; commonLabels: Record<string, string> };
    expect(body).toMatchObject({ version: '4', receiver: 'deadmans-switch', commonLabels: { alertname: 'Watchdog' } });
  }, 60_000);

  it('call tier: the database becomes unreachable → a voice call and a mail; resolved → a text and a mail', async () => {
    const t0 = Date.now();
    set({ dbUp: 0 });
    const call = await p.waitFor('a Twilio call', async () => (await p.twilio()).find((r) => r.kind === 'call' && since(t0)(r)));
    report(`call tier: condition → Twilio call in ${call.at - t0} ms`);
    expect(call.form.To).toBe(CALL_TO);
    expect(call.form.Twiml).toContain('CT Platform alert. 1 critical alert. Platform database unreachable.');
    const mail = await p.waitFor('the call-tier mail', async () =>
      (await p.mails()).find((m) => m.subject.startsWith('[FIRING:1] CRITICAL DatabaseUnreachable')),
    );
    expect(mail.text).toContain('https://ct-platform.example/docs/runbooks.md#databaseunreachable');

    const t1 = Date.now();
    set({ dbUp: 1 });
    const text = await p.waitFor('the resolution text', async () =>
      (await p.twilio()).find((r) => r.kind === 'sms' && since(t1)(r) && r.form.Body!.startsWith('RESOLVED critical DatabaseUnreachable')),
    );
    report(`call tier: resolution → Twilio text in ${text.at - t1} ms`);
    expect(text.form.To).toBe(CALL_TO);
    await p.waitFor('the resolution mail', async () =>
      (await p.mails()).find((m) => m.subject === '[RESOLVED] CRITICAL DatabaseUnreachable'),
    );
    // one call for the incident, not one per evaluation
    expect((await p.twilio()).filter((r) => r.kind === 'call')).toHaveLength(1);
  }, 90_000);

  it('text tier: a scraped target stops → an SMS of at most 160 characters; back → a resolution SMS', async () => {
    const t0 = Date.now();
    await p.api.stop();
    const sms = await p.waitFor('a Twilio SMS', async () =>
      (await p.twilio()).find((r) => r.kind === 'sms' && since(t0)(r) && r.form.Body!.includes('ScrapeTargetDown')),
    );
    report(`text tier: target stopped → Twilio SMS in ${sms.at - t0} ms`);
    expect(sms.form).toMatchObject({ To: SMS_TO, Body: `FIRING high ScrapeTargetDown: ct_api target ${p.api.address} is down` });
    expect(sms.form.Body!.length).toBeLessThanOrEqual(160);

    const t1 = Date.now();
    await p.api.start();
    const resolved = await p.waitFor('the resolution SMS', async () =>
      (await p.twilio()).find((r) => r.kind === 'sms' && since(t1)(r) && r.form.Body!.startsWith('RESOLVED high ScrapeTargetDown')),
    );
    report(`text tier: target back → resolution SMS in ${resolved.at - t1} ms`);
    expect(resolved.form.To).toBe(SMS_TO);
    // the text tier never calls and never mails
    expect((await p.twilio()).filter((r) => r.kind === 'call')).toHaveLength(1);
    expect((await p.mails()).filter((m) => m.subject.includes('ScrapeTargetDown'))).toHaveLength(0);
  }, 90_000);

  it('email tier: a client at churn risk → a mail with subject, values, runbook and dashboard links; resolved → a mail', async () => {
    const t0 = Date.now();
    set({ churn: 1 });
    const mail = await p.waitFor('the churn mail', async () =>
      (await p.mails()).find((m) => m.subject === '[FIRING:1] MEDIUM ChurnRisk (pizza)'),
    );
    report(`email tier: condition → mail in ${Date.parse(mail.at) - t0} ms`);
    expect(mail.to).toEqual(['oncall@ct-platform.example']);
    expect(mail.text).toContain('pizza at risk of churning');
    expect(mail.text).toContain('Client pizza has been inactive for 14 days or has an overdue invoice.');
    expect(mail.text).toMatch(/alertname=ChurnRisk client=pizza/);
    expect(mail.text).toContain('https://ct-platform.example/docs/runbooks.md#churnrisk');
    expect(mail.text).toContain('https://grafana.ct-platform.example/d/ct-client/ct-client?var-client=pizza');

    const t1 = Date.now();
    set({ churn: 0 });
    const resolved = await p.waitFor('the resolution mail', async () =>
      (await p.mails()).find((m) => m.subject === '[RESOLVED] MEDIUM ChurnRisk (pizza)'),
    );
    report(`email tier: resolution → mail in ${Date.parse(resolved.at) - t1} ms`);
    expect((await p.twilio()).filter((r) => (r.form.Body ?? r.form.Twiml ?? '').includes('ChurnRisk'))).toHaveLength(0);
  }, 90_000);

  it('dashboard tier: a backup succeeds → listed by Alertmanager for Grafana, delivered nowhere', async () => {
    const t0 = Date.now();
    set({ backupAt: now() });
    type Listed = { labels: Record<string, string>; receivers: { name: string }[]; status: { state: string } };
    const listed = await p.waitFor('BackupSucceeded in /api/v2/alerts', async () => {
      const res = await fetch(`${p.alertmanagers[0]!.url}/api/v2/alerts?filter=${encodeURIComponent('alertname="BackupSucceeded"')}`);
      return ((await res.json()) as Listed[])[0];
    });
    report(`dashboard tier: condition → listed by Alertmanager in ${Date.now() - t0} ms`);
    expect(listed).toMatchObject({
      labels: { tier: 'dashboard', severity: 'low', kind: 'database' },
      receivers: [{ name: 'dashboard' }],
      status: { state: 'active' },
    });
    // longer than group_wait + group_interval of the test configuration
    await new Promise((r) => setTimeout(r, 5000));
    expect(
      (await p.twilio()).filter(
        (r) =>
          (r.form.Body ?? r.form.Twiml ?? '').includes('BackupSucceeded') ||
          (r.form.Body ?? r.form.Twiml ?? '').includes('backup succeeded'),
      ),
    ).toHaveLength(0);
    expect((await p.mails()).filter((m) => m.subject.includes('BackupSucceeded'))).toHaveLength(0);
  }, 60_000);
});
