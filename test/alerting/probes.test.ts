import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CALL_TO, HttpsEndpoint, SMS_TO, startBlackboxExporter, startPipeline, type Pipeline } from './pipeline';

/**
 * The probe path of prometheus.yml for real: blackbox_exporter (Debian) with alerting/blackbox.yml
 * probes a local HTTPS "API" whose self-signed certificate expires in 3 days, through the real
 * job's relabelling. The certificate raises TlsCertExpiringSoon (text); stopping the server raises
 * PlatformDown (call); starting it again resolves it.
 */

describe('HTTPS probes through blackbox_exporter', () => {
  let dir: string;
  let p: Pipeline;
  let endpoint: HttpsEndpoint;
  let blackbox: { address: string; stop(): Promise<void> } | undefined;

  const query = async (promql: string) => {
    const res = await fetch(`${p.prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    return ((await res.json()) as { data: { result: { value: [number, string] }[] } }).data.result.map((r) => Number(r.value[1]));
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-alerting-probes-'));
    endpoint = new HttpsEndpoint(dir, 3);
    await endpoint.start();
    blackbox = await startBlackboxExporter(dir, endpoint.certFile);
    p = await startPipeline(dir, {
      exporterMetrics: 'ct_database_up 1\n',
      probes: { blackboxExporter: blackbox.address, targets: [{ url: endpoint.url, service: 'api' }] },
    });
  }, 90_000);
  afterAll(async () => {
    await p?.stop();
    await blackbox?.stop();
    await endpoint?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('probes the HTTPS endpoint and reads its certificate expiry', async () => {
    await p.waitFor('a successful probe', async () =>
      (await query('probe_success{job="blackbox_http",service="api"}'))[0] === 1 ? true : undefined,
    );
    const notAfter = Date.parse(new X509Certificate(endpoint.certPem).validTo) / 1000;
    expect(await query(`probe_ssl_earliest_cert_expiry{service="api",instance="${endpoint.url}"}`)).toEqual([notAfter]);
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
    await endpoint.stop();
    const call = await p.waitFor('the PlatformDown call', async () =>
      (await p.twilio()).find((r) => r.kind === 'call' && r.form.Twiml!.includes('api is down')),
    );
    process.stdout.write(`[alerting probes] API stopped → PlatformDown call in ${call.at - t0} ms\n`);
    expect(call.form.To).toBe(CALL_TO);
    const t1 = Date.now();
    await endpoint.start();
    const back = await p.waitFor('the PlatformDown resolution', async () =>
      (await p.twilio()).find((r) => r.kind === 'sms' && r.at >= t1 && r.form.Body === 'RESOLVED critical PlatformDown: api is down'),
    );
    process.stdout.write(`[alerting probes] API back → resolution SMS in ${back.at - t1} ms\n`);
  }, 90_000);
});
