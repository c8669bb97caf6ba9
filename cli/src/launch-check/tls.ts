import net, { isIP } from 'node:net';
import tls from 'node:tls';
import { fetchFailure, originOf, request } from './http';
import { fail, Findings, type Outcome } from './types';

/** TLS on every public hostname, and the API reachable only through the TLS proxy. */

export interface PublicUrl {
  /** The variable that names it, e.g. PUBLIC_API_URL. */
  variable: string;
  url: string | undefined;
}

export interface CertificateReport {
  authorized: boolean;
  authorizationError?: string;
  hostnameError?: string;
  validTo: Date;
  issuer: string;
}

/** Connects with TLS, verifying nothing itself, and reports what it would have verified. */
export function inspectCertificate(
  host: string,
  port: number,
  opts: { ca?: string | string[]; timeoutMs?: number } = {},
): Promise<CertificateReport> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername: isIP(host) ? undefined : host,
      rejectUnauthorized: false,
      ca: opts.ca,
      timeout: opts.timeoutMs ?? 10_000,
    });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const hostnameError = tls.checkServerIdentity(host, cert)?.message;
      resolve({
        authorized: socket.authorized,
        authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
        hostnameError,
        validTo: new Date(cert.valid_to),
        issuer: [cert.issuer?.O ?? cert.issuer?.CN ?? 'unknown issuer'].flat().join(', '),
      });
      socket.end();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error('no TLS handshake (timed out)'));
    });
    socket.once('error', (err) => reject(err));
  });
}

const DAY = 86_400_000;

export interface TlsOptions {
  urls: PublicUrl[];
  /** Certificates trusted besides the system's (tests; in production NODE_EXTRA_CA_CERTS does it). */
  ca?: string | string[];
  minDays?: number;
  now?: Date;
}

export async function checkTls(o: TlsOptions): Promise<Outcome> {
  const minDays = o.minDays ?? 14;
  const now = o.now ?? new Date();
  const f = new Findings();
  const good: string[] = [];
  const seen = new Set<string>();
  for (const { variable, url } of o.urls) {
    if (!url) {
      f.add(`${variable} is not set`, `set ${variable} in .env to the public https:// address (the hostname Caddy serves)`);
      continue;
    }
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      f.add(`${variable}="${url}" is not a URL`, `set ${variable} to an https:// URL`);
      continue;
    }
    if (u.protocol !== 'https:') {
      f.add(
        `${variable} is ${u.protocol}//, not https://`,
        `serve ${u.hostname} through the TLS proxy (Caddy) and set ${variable} to its https:// URL`,
      );
      continue;
    }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = Number(u.port || 443);
    // Several public URLs may share a hostname: one look at its certificate.
    if (seen.has(u.host)) continue;
    seen.add(u.host);
    let cert: CertificateReport;
    try {
      cert = await inspectCertificate(host, port, { ca: o.ca });
    } catch (err) {
      f.add(
        `${u.host}: no TLS connection (${fetchFailure(err)})`,
        'start the TLS proxy (docker compose up -d caddy), open ports 80 and 443, and point the DNS name at this server',
      );
      continue;
    }
    const days = (cert.validTo.getTime() - now.getTime()) / DAY;
    if (cert.hostnameError) {
      f.add(
        `${u.host}: the certificate does not match the hostname (${cert.hostnameError})`,
        'let Caddy obtain a certificate for exactly this hostname (its site address in the Caddyfile must be the hostname of the URL)',
      );
    } else if (!cert.authorized) {
      f.add(
        `${u.host}: the certificate is not trusted (${cert.authorizationError}, issued by ${cert.issuer})`,
        "use a publicly trusted certificate: Caddy's automatic HTTPS needs the DNS name to resolve here and ports 80/443 reachable from the internet",
      );
    } else if (days < minDays) {
      f.add(
        `${u.host}: the certificate expires in ${Math.max(0, days).toFixed(1)} days (${cert.validTo.toISOString()}), under ${minDays}`,
        'renew it: Caddy renews 30 days ahead by itself, so read its log (docker compose logs caddy) for why it could not',
      );
    } else {
      good.push(`${u.host} (${Math.floor(days)} days left)`);
    }
  }
  return f.outcome(`valid certificates on ${good.join(', ')}`);
}

export interface ApiExposureOptions {
  /** PUBLIC_API_URL. */
  publicApiUrl: string | undefined;
  /** The API's own plain-HTTP port (API_PORT), which must not answer on the public hostname. */
  apiPort: number;
  ca?: string | string[];
}

const tcpOpen = (host: string, port: number, timeoutMs = 3000): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: timeoutMs });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('timeout', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(false));
  });

/**
 * The API only behind the proxy: its public URL answers through TLS, the API's plain port is
 * closed on the public hostname, plain http:// on the hostname does not serve the API (Caddy
 * redirects it to https), and the internal /metrics is not served on the public URL.
 */
export async function checkApiBehindProxy(o: ApiExposureOptions): Promise<Outcome> {
  if (!o.publicApiUrl) return fail('PUBLIC_API_URL is not set', "set PUBLIC_API_URL in .env to the API's public https:// address");
  const u = new URL(o.publicApiUrl);
  if (u.protocol !== 'https:') {
    return fail(
      `PUBLIC_API_URL is ${u.protocol}//, not https://`,
      'publish the API only through the TLS proxy (Caddy) and set its https:// URL',
    );
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const base = o.publicApiUrl.replace(/\/+$/, '');
  const f = new Findings();
  const health = await request(`${base}/healthz`, { ca: o.ca });
  if (!health.ok || health.status !== 200) {
    f.add(
      `${originOf(base)}/healthz does not answer through TLS (${health.ok ? `HTTP ${health.status}` : health.error})`,
      'start the API and the TLS proxy (docker compose up -d api caddy) and check the proxy routes the API hostname to api:8080',
    );
  }
  if (await tcpOpen(host, o.apiPort)) {
    f.add(
      `the API's plain port ${o.apiPort} is open on ${host}`,
      `publish no port but the proxy's (remove "ports:" from the api service) and close ${o.apiPort} in the firewall (ufw deny ${o.apiPort})`,
    );
  }
  const metrics = await request(`${base}/metrics`, { ca: o.ca });
  if (metrics.ok && metrics.status === 200 && /^# (HELP|TYPE) /m.test(metrics.text)) {
    f.add(
      `${originOf(base)}/metrics serves the API's internal metrics publicly`,
      'make the proxy refuse /metrics on the API hostname (Caddyfile: respond /metrics 404); Prometheus scrapes api:8080 inside the network',
    );
  }
  if (u.port === '' || u.port === '443') {
    const plain = await request(`http://${u.host}/healthz`);
    if (plain.ok && plain.status >= 200 && plain.status < 300) {
      f.add(
        `http://${u.host}/healthz answers ${plain.status} without TLS`,
        'let the proxy redirect plain http to https (Caddy does unless a site is declared with http://)',
      );
    }
  }
  return f.outcome(`the API answers only through TLS at ${originOf(base)}; port ${o.apiPort} closed, /metrics not public`);
}
