import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { parse } from 'yaml';
import { sleep } from '../bench/process';
import { REAL_ALERTMANAGER } from './generate';
import { bindMounts, composeServices, startComposeAlertmanager, type ChrootedAlertmanager } from './compose-layout';
import { decodeQuotedPrintable } from './pipeline';

/**
 * alertmanager.yml as docker-compose.yml deploys it: the files where the compose file mounts them,
 * the configuration unmodified, and a page delivered by mail over STARTTLS with authentication to
 * an SMTP sink answering for the configured smarthost. A template glob that resolves to nothing in
 * the container makes every mail fail ("template ... not defined"), which this catches.
 */

interface Received {
  from: string;
  to: string[];
  raw: string;
  secure: boolean;
  user: string | undefined;
}

const SMTP_PASSWORD = 'compose-layout-smtp-password';

describe('Alertmanager with the compose file’s own mount layout', () => {
  let dir: string;
  let am: ChrootedAlertmanager;
  let smtp: SMTPServer;
  let notifier: http.Server;
  const mails: Received[] = [];
  const webhooks: string[] = [];
  const config = parse(readFileSync(REAL_ALERTMANAGER, 'utf8')) as {
    global: { smtp_smarthost: string; smtp_auth_username: string; smtp_from: string };
  };
  const [smtpHost, smtpPort] = config.global.smtp_smarthost.split(':') as [string, string];
  // A loopback address of its own, so the configured ports (587, 9465) cannot clash with another run.
  const ip = `127.${2 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-compose-am-'));
    const key = path.join(dir, 'smtp.key');
    const cert = path.join(dir, 'smtp.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=${smtpHost}`,
        '-addext',
        `subjectAltName=DNS:${smtpHost}`,
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'pipe' },
    );
    smtp = new SMTPServer({
      secure: false,
      key: readFileSync(key),
      cert: readFileSync(cert),
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      onAuth(auth, _session, cb) {
        if (auth.username === config.global.smtp_auth_username && auth.password === SMTP_PASSWORD) return cb(null, { user: auth.username });
        return cb(new Error('invalid credentials'));
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
            secure: session.secure,
            user: session.user as string | undefined,
          });
          cb();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      smtp.on('error', reject);
      smtp.listen(Number(smtpPort), ip, () => resolve());
    });
    // The call receiver also posts to the notifier: a recorder answers for it.
    notifier = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        webhooks.push(`${req.url} ${req.headers.authorization}`);
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => notifier.listen(9465, ip, resolve));
    am = await startComposeAlertmanager(dir, {
      serviceName: 'alertmanager-1',
      secrets: { 'smtp-password': SMTP_PASSWORD, 'notifier-token': 'compose-layout-notifier-token', 'opsgenie-heartbeat-key': 'unused' },
      hosts: { [smtpHost]: ip, notifier: ip },
      caBundle: readFileSync(cert, 'utf8'),
    });
  }, 60_000);

  afterAll(async () => {
    await am?.stop();
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (notifier ? (notifier.closeAllConnections(), notifier.close(() => resolve())) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('is given the layout by docker-compose.yml: both instances mount the same files, config unmodified', () => {
    const services = composeServices();
    const one = bindMounts(services['alertmanager-1']!, 'alertmanager-1');
    expect(bindMounts(services['alertmanager-2']!, 'alertmanager-2')).toEqual(one);
    expect(one.map((m) => m.source)).toEqual(expect.arrayContaining(['./alertmanager.yml']));
    expect(readFileSync(path.join(am.root, am.configPath), 'utf8')).toBe(readFileSync(REAL_ALERTMANAGER, 'utf8'));
  });

  it('delivers a page’s mail over STARTTLS, authenticated, with the ct.email templates', async () => {
    const alert = {
      labels: { alertname: 'DatabaseUnreachable', tier: 'call', severity: 'critical', job: 'ct_exporters' },
      annotations: {
        summary: 'Platform database unreachable',
        description: 'ct_exporters has not reached the platform database for 1 minute.',
        runbook_url: 'https://ct-platform.example/docs/runbooks.md#databaseunreachable',
      },
      startsAt: new Date().toISOString(),
    };
    const posted = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([alert]),
    });
    expect(posted.status).toBe(200);
    // The call route waits group_wait (10 s) before its first notification.
    const deadline = Date.now() + 45_000;
    const delivered = () => mails.filter((m) => m.raw.trim().length > 0);
    while (delivered().length === 0 && Date.now() < deadline) {
      const metrics = await (await fetch(`${am.url}/metrics`)).text();
      const failed = /alertmanager_notifications_failed_total\{integration="email"\} (\d+)/.exec(metrics);
      if (failed && Number(failed[1]) > 0) {
        const log = readFileSync(am.logFile, 'utf8')
          .split('\n')
          .filter((l) => /email|template/i.test(l))
          .slice(-5)
          .join('\n');
        throw new Error(`Alertmanager failed to send the mail:\n${log}`);
      }
      await sleep(250);
    }
    expect(/alertmanager_notifications_failed_total\{integration="email"\} 0/.test(await (await fetch(`${am.url}/metrics`)).text())).toBe(
      true,
    );
    // (a failed template still opens DATA and aborts it: an empty message, not a mail)
    expect(delivered()).toHaveLength(1);
    const mail = delivered()[0]!;
    expect(mail).toMatchObject({ to: ['oncall@ct-platform.example'], secure: true, user: config.global.smtp_auth_username });
    expect(mail.from).toBe('alerts@ct-platform.example');
    const raw = decodeQuotedPrintable(mail.raw);
    expect(raw).toMatch(/^Subject: \[FIRING:1\] CRITICAL DatabaseUnreachable/m);
    expect(raw).toContain('Platform database unreachable');
    expect(raw).toContain('Runbook: https://ct-platform.example/docs/runbooks.md#databaseunreachable');
    expect(raw).toContain('<a href="https://ct-platform.example/docs/runbooks.md#databaseunreachable">Runbook</a>');
    // and the page itself went to the notifier, with the token from /run/secrets
    expect(webhooks).toEqual(['/alerts/call Bearer compose-layout-notifier-token']);
  }, 60_000);
});
