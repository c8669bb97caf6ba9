import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, httpStatus, killGroup, spawnDaemon, waitFor } from '../bench/process';
import { testBlackboxConfig } from './generate';
import { CALL_TO, SMS_TO, startPipeline, type Pipeline } from './pipeline';

/**
 * The probe path of prometheus.yml for real: blackbox_exporter (Debian) with alerting/blackbox.yml
 * probes a local HTTPS "API" whose self-signed certificate expires in 3 days, through the real
 * job's relabelling. The certificate raises TlsCertExpiringSoon (text); stopping the server raises
 * PlatformDown (call); starting it again resolves it.
 */

describe('HTTPS probes through blackbox_exporter', () => {
  let dir: string;
  let p: Pipeline;
  let blackboxPid = 0;
  let server: https.Server | undefined;
  let port = 0;
  let certPem = '';
  let keyPem = '';

  const startServer = async () => {
    server = https.createServer({ cert: certPem, key: keyPem }, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"ok"}');
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  const stopServer = async () => {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())));
  };
  const query = async (promql: string) => {
    const res = await fetch(`${p.prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    return ((await res.json()) as { data: { result: { value: [number, string] }[] } }).data.result.map((r) => Number(r.value[1]));
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-alerting-probes-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '3',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'pipe' },
    );
    certPem = readFileSync(cert, 'utf8');
    keyPem = readFileSync(key, 'utf8');
    await startServer();

    const bbConfig = path.join(dir, 'blackbox.yml');
    writeFileSync(bbConfig, testBlackboxConfig(cert));
    const bbPort = await freePort();
    const logFile = path.join(dir, 'blackbox.log');
    blackboxPid = spawnDaemon('prometheus-blackbox-exporter', [`--config.file=${bbConfig}`, `--web.listen-address=127.0.0.1:${bbPort}`], {
      logFile,
      cwd: dir,
    });
    await waitFor('blackbox_exporter', async () => (await httpStatus(`http://127.0.0.1:${bbPort}/metrics`)) === 200, {
      timeoutMs: 20_000,
      logFile,
      pid: blackboxPid,
    });

    p = await startPipeline(dir, {
      exporterMetrics: 'ct_database_up 1\n',
      probes: { blackboxExporter: `127.0.0.1:${bbPort}`, targets: [{ url: `https://127.0.0.1:${port}/healthz`, service: 'api' }] },
    });
  }, 90_000);
  afterAll(async () => {
    await p?.stop();
    if (blackboxPid) await killGroup(blackboxPid);
    await stopServer();
    rmSync(dir, { recursive: true, force: true });
  });

  it('probes the HTTPS endpoint and reads its certificate expiry', async () => {
    await p.waitFor('a successful probe', async () =>
      (await query('probe_success{job="blackbox_http",service="api"}'))[0] === 1 ? true : undefined,
    );
    const notAfter = Date.parse(new X509Certificate(certPem).validTo) / 1000;
    expect(await query(`probe_ssl_earliest_cert_expiry{service="api",instance="https://127.0.0.1:${port}/healthz"}`)).toEqual([notAfter]);
  }, 60_000);

  it('texts that the certificate expires within 7 days', async () => {
    const sms = await p.waitFor('the TLS SMS', async () =>
      (await p.twilio()).find((r) => r.kind === 'sms' && r.form.Body!.includes('TlsCertExpiringSoon')),
    );
    expect(sms.form.To).toBe(SMS_TO);
    expect(sms.form.Body).toMatch(/^FIRING high TlsCertExpiringSoon: TLS certificate of api expires in 2d 23h \d+m \d+s$/);
  }, 60_000);

  it('calls when the platform stops answering, and texts when it is back', async () => {
    const t0 = Date.now();
    await stopServer();
    const call = await p.waitFor('the PlatformDown call', async () =>
      (await p.twilio()).find((r) => r.kind === 'call' && r.form.Twiml!.includes('api is down')),
    );
    process.stdout.write(`[alerting probes] API stopped → PlatformDown call in ${call.at - t0} ms\n`);
    expect(call.form.To).toBe(CALL_TO);
    const t1 = Date.now();
    await startServer();
    const back = await p.waitFor('the PlatformDown resolution', async () =>
      (await p.twilio()).find((r) => r.kind === 'sms' && r.at >= t1 && r.form.Body === 'RESOLVED critical PlatformDown: api is down'),
    );
    process.stdout.write(`[alerting probes] API back → resolution SMS in ${back.at - t1} ms\n`);
  }, 90_000);
});
