import { execFileSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, httpStatus, killGroup, sleep, spawnDaemon, waitFor } from '../bench/process';
import {
  startAlertmanager,
  startHttpSink,
  startPrometheus,
  startSmtpSink,
  type AlertmanagerService,
  type PrometheusService,
  type Service,
} from '../bench/services';
import { CT_BIN } from '../helpers/cli';
import { testAlertmanagerConfig, testBlackboxConfig, testPrometheusConfig, writeTestRules } from './generate';
import { startTwilioFake, twilioEnv, type TwilioFake, type TwilioRequest } from './twilio-contract';

/**
 * The alerting pipeline on the bench for end-to-end tests: a metrics server whose text the test
 * changes (standing in for the exporters), another one the test stops (the API), the real
 * Prometheus and Alertmanager(s) with configurations generated from the project's files,
 * `ct serve notifier`, the Twilio contract fake, the HTTP sink as dead man's switch, and the SMTP sink.
 */

export const CALL_TO = '+15005550201';
export const SMS_TO = '+15005550202';
export const NOTIFIER_TOKEN = 'e2e-notifier-token-0123456789abcdef0123';
export const HEARTBEAT_KEY = 'e2e-heartbeat-key';

/** A /metrics endpoint serving `text`, which tests change; stop() and start() keep the port. */
export class MetricsServer {
  text: string;
  port = 0;
  private server?: http.Server;
  constructor(text: string) {
    this.text = text;
  }
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(this.text);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())));
  }
}

/**
 * A local HTTPS endpoint standing in for a public one, with a self-signed certificate valid for
 * `days` days (blackbox_exporter trusts it through testBlackboxConfig); stop() and start() keep the port.
 */
export class HttpsEndpoint {
  port = 0;
  readonly certFile: string;
  readonly certPem: string;
  private readonly keyPem: string;
  private server?: https.Server;
  constructor(dir: string, days: number) {
    this.certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', String(days), '-subj', '/CN=127.0.0.1'].concat([
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        keyFile,
        '-out',
        this.certFile,
      ]),
      { stdio: 'pipe' },
    );
    this.certPem = readFileSync(this.certFile, 'utf8');
    this.keyPem = readFileSync(keyFile, 'utf8');
  }
  get url(): string {
    return `https://127.0.0.1:${this.port}/healthz`;
  }
  async start(): Promise<void> {
    this.server = https.createServer({ cert: this.certPem, key: this.keyPem }, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"ok"}');
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())));
  }
}

/** Debian's blackbox_exporter with alerting/blackbox.yml, trusting `caFile`; its host:port and a stop(). */
export async function startBlackboxExporter(dir: string, caFile: string): Promise<{ address: string; stop(): Promise<void> }> {
  const config = path.join(dir, 'blackbox.yml');
  writeFileSync(config, testBlackboxConfig(caFile));
  const port = await freePort();
  const logFile = path.join(dir, 'blackbox.log');
  const pid = spawnDaemon('prometheus-blackbox-exporter', [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`], {
    logFile,
    cwd: dir,
  });
  await waitFor('blackbox_exporter', async () => (await httpStatus(`http://127.0.0.1:${port}/metrics`)) === 200, {
    timeoutMs: 20_000,
    logFile,
    pid,
  });
  return { address: `127.0.0.1:${port}`, stop: () => killGroup(pid) };
}

export interface Mail {
  at: string;
  subject: string;
  to: string[];
  text: string;
}

/** Body of a mail with quoted-printable soft breaks and escapes undone. */
export const decodeQuotedPrintable = (s: string) =>
  s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));

export interface Pipeline {
  exporters: MetricsServer;
  api: MetricsServer;
  sinkUrl: string;
  smtpUrl: string;
  notifierUrl: string;
  alertmanagers: AlertmanagerService[];
  prometheus: PrometheusService;
  /** The Twilio contract fake the notifier calls. */
  twilioFake: TwilioFake;
  twilio(): Promise<TwilioRequest[]>;
  mails(): Promise<Mail[]>;
  heartbeats(): Promise<{ at: string; headers: Record<string, string>; body: string }[]>;
  /** Polls until `find` returns a value; fails naming `what` after `timeoutMs`. */
  waitFor<T>(what: string, find: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export async function startPipeline(
  dir: string,
  opts: {
    exporterMetrics: string;
    alertmanagers?: 1 | 2;
    alertmanagerArgs?: string[];
    /** HTTPS endpoints probed through a local blackbox_exporter (job blackbox_http). */
    probes?: { blackboxExporter: string; targets: { url: string; service: string }[] };
    /** Real services (host:port) scraped instead of the stand-in metrics servers, and node_exporter. */
    scrape?: { ct_exporters?: string; ct_api?: string; node?: string };
    /** Also scrape Prometheus itself, the Alertmanagers and blackbox_exporter, as production does. */
    selfMonitoring?: boolean;
  },
): Promise<Pipeline> {
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
  };
  try {
    const [sink, smtp]: Service[] = await Promise.all([startHttpSink(dir, 'twilio-fake'), startSmtpSink(dir)]);
    stoppers.push(
      () => sink!.stop(),
      () => smtp!.stop(),
    );
    const sinkUrl = sink!.env.SINK_URL!;
    const twilioFake = await startTwilioFake();
    stoppers.push(() => twilioFake.stop());

    const exporters = new MetricsServer(opts.exporterMetrics);
    const api = new MetricsServer('# TYPE ct_rate_limited_total counter\nct_rate_limited_total 0\n');
    await exporters.start();
    await api.start();
    stoppers.push(
      () => exporters.stop(),
      () => api.stop(),
    );

    // ct serve notifier, as an operator runs it
    const notifierPort = await freePort();
    const notifierUrl = `http://127.0.0.1:${notifierPort}`;
    const logFile = path.join(dir, 'notifier.log');
    const pid = spawnDaemon(process.execPath, [CT_BIN, 'serve', 'notifier', '--port', String(notifierPort)], {
      logFile,
      env: {
        PATH: process.env.PATH,
        NOTIFIER_AUTH_TOKEN: NOTIFIER_TOKEN,
        ...twilioEnv(twilioFake),
        NOTIFIER_PUBLIC_URL: notifierUrl,
        NOTIFIER_CALL_TO: CALL_TO,
        NOTIFIER_SMS_TO: SMS_TO,
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
      },
    });
    stoppers.push(() => killGroup(pid));
    await waitFor('notifier', async () => (await httpStatus(`${notifierUrl}/healthz`)) === 200, { timeoutMs: 20_000, logFile, pid });

    const tokenFile = path.join(dir, 'notifier-token');
    const keyFile = path.join(dir, 'heartbeat-key');
    writeFileSync(tokenFile, NOTIFIER_TOKEN);
    writeFileSync(keyFile, HEARTBEAT_KEY);
    const amConfig = testAlertmanagerConfig({
      notifierUrl,
      notifierTokenFile: tokenFile,
      heartbeatUrl: sinkUrl,
      heartbeatKeyFile: keyFile,
      smtp: { host: '127.0.0.1', port: Number(smtp!.env.SMTP_PORT) },
    });
    const alertmanagers: AlertmanagerService[] = [];
    if ((opts.alertmanagers ?? 1) === 1) {
      alertmanagers.push(await startAlertmanager(dir, { config: amConfig, args: opts.alertmanagerArgs }));
    } else {
      const first = await startAlertmanager(dir, { name: 'am1', config: amConfig, cluster: { listen: true }, args: opts.alertmanagerArgs });
      alertmanagers.push(first);
      alertmanagers.push(
        await startAlertmanager(dir, { name: 'am2', config: amConfig, cluster: { listen: true, peers: [first.clusterAddress!] } }),
      );
    }
    for (const am of alertmanagers) stoppers.push(() => am.stop());

    const rulesDir = writeTestRules(path.join(dir, 'rules'));
    const prometheusConfig = (self?: string) =>
      testPrometheusConfig({
        alertmanagers: alertmanagers.map((a) => a.url),
        targets: {
          ct_exporters: [opts.scrape?.ct_exporters ?? exporters.address],
          ct_api: [opts.scrape?.ct_api ?? api.address],
          ct_notifier: [`127.0.0.1:${notifierPort}`],
          ...(opts.scrape?.node ? { node: [opts.scrape.node] } : {}),
          ...(opts.probes ? { blackbox_http: opts.probes.targets.map((t) => ({ targets: [t.url], labels: { service: t.service } })) } : {}),
          ...(self ? { prometheus: [self], alertmanager: alertmanagers.map((a) => new URL(a.url).host) } : {}),
          ...(self && opts.probes ? { blackbox_exporter: [opts.probes.blackboxExporter] } : {}),
        },
        blackboxExporter: opts.probes?.blackboxExporter,
        rulesDir,
      });
    const prometheus = await startPrometheus(dir, {
      // Prometheus re-sends a firing alert only every resend-delay (1m): one fired before it had
      // discovered the Alertmanagers (a cold start) would wait that long.
      args: ['--rules.alert.resend-delay=1s'],
      config: prometheusConfig(),
    });
    stoppers.push(() => prometheus.stop());
    // Its own address is known once it runs.
    if (opts.selfMonitoring) await prometheus.reload(prometheusConfig(new URL(prometheus.url).host));

    const sinkRequests = async () =>
      (await (await fetch(`${sinkUrl}/_sink/requests`)).json()) as {
        at: string;
        path: string;
        headers: Record<string, string>;
        body: string;
      }[];
    return {
      exporters,
      api,
      sinkUrl,
      smtpUrl: smtp!.env.SMTP_SINK_URL!,
      notifierUrl,
      alertmanagers,
      prometheus,
      twilioFake,
      twilio: async () => (twilioFake.assertClean(), twilioFake.requests()),
      mails: async () =>
        ((await (await fetch(`${smtp!.env.SMTP_SINK_URL}/messages`)).json()) as Mail[]).map((m) => ({
          ...m,
          text: decodeQuotedPrintable(m.text),
        })),
      heartbeats: async () => (await sinkRequests()).filter((r) => r.path.startsWith('/v2/heartbeats/')),
      async waitFor<T>(what: string, find: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          const found = await find();
          if (found !== undefined) return found;
          await sleep(200);
        }
        throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
