import net, { isIP } from 'node:net';
import tls from 'node:tls';
import { fetchFailure, request } from './http';
import { fail, Findings, type Outcome } from './types';

/** TLS on every public hostname, and the API reachable only through the TLS proxy. */

export interface PublicHost {
  /** The variable that names it, e.g. API_PUBLIC_HOST. */
  variable: string;
  /** host or host:port, as Caddy's site address. */
  host: string | undefined;
}

/** The documentation's own hostnames (example.com, *.example): a placeholder left in .env. */
const EXAMPLE_HOST = /(^|\.)example(\.(com|net|org))?$/i;

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
/** Caddy renews a certificate this many days before it expires (a third of a 90-day lifetime). */
const RENEWAL_DAYS = 30;

export interface TlsOptions {
  hosts: PublicHost[];
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
  for (const { variable, host: value } of o.hosts) {
    if (!value) {
      f.add(
        `${variable} is not set`,
        `set ${variable} in .env to the public hostname Caddy serves (its DNS record pointing at this server)`,
      );
      continue;
    }
    let u: URL;
    try {
      u = new URL(`https://${value}`);
      if (u.pathname !== '/' || u.search || u.username) throw new Error('not a bare host');
    } catch {
      f.add(`${variable}="${value}" is not a hostname`, `set ${variable} to a bare hostname such as grafana.agency.com`);
      continue;
    }
    if (EXAMPLE_HOST.test(u.hostname)) {
      f.add(`${variable} is still the example ${u.hostname}`, `set ${variable} to your own hostname and create its DNS record`);
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
    } else if (days < RENEWAL_DAYS) {
      f.warn(
        `${u.host}: the certificate expires in ${days.toFixed(1)} days and has not been renewed`,
        `Caddy renews ${RENEWAL_DAYS} days ahead: read its log (docker compose logs caddy) for why it has not yet`,
      );
    } else {
      good.push(`${u.host} (${Math.floor(days)} days left)`);
    }
  }
  return f.outcome(`valid certificates on ${good.join(', ')}`);
}

export interface ApiExposureOptions {
  /** API_PUBLIC_HOST (host or host:port). */
  publicHost: string | undefined;
  /** The API's own plain-HTTP ports (API_PORT, API_INTERNAL_PORT): closed on the public hostname. */
  ports: number[];
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
  if (!o.publicHost) return fail('API_PUBLIC_HOST is not set', "set API_PUBLIC_HOST in .env to the API's public hostname");
  const base = `https://${o.publicHost}`;
  const u = new URL(base);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const f = new Findings();
  const health = await request(`${base}/healthz`, { ca: o.ca });
  if (!health.ok || health.status !== 200) {
    f.add(
      `${base}/healthz does not answer through TLS (${health.ok ? `HTTP ${health.status}` : health.error})`,
      'start the API and Caddy (docker compose up -d api caddy); the Caddyfile routes API_PUBLIC_HOST to api:8080',
    );
  }
  for (const port of o.ports) {
    if (await tcpOpen(host, port)) {
      f.add(
        `the API's plain port ${port} is open on ${host}`,
        `publish no port but Caddy's (no "ports:" on the api service) and close ${port} in the firewall (ufw deny ${port})`,
      );
    }
  }
  for (const p of ['/metrics', '/readyz']) {
    const res = await request(`${base}${p}`, { ca: o.ca });
    if (res.ok && res.status === 200) {
      f.add(
        `${base}${p} is served publicly (it belongs to the API's internal listener)`,
        'make Caddy answer 404 for /metrics and /readyz on the API hostname (deploy/caddy/Caddyfile: @internal), then reload it',
      );
    }
  }
  if (u.port === '' || u.port === '443') {
    const plain = await request(`http://${u.host}/healthz`);
    if (plain.ok && plain.status >= 200 && plain.status < 300) {
      f.add(
        `http://${u.host}/healthz answers ${plain.status} without TLS`,
        'let Caddy redirect plain http to https (it does unless a site is declared http://)',
      );
    }
  }
  return f.outcome(`the API answers only through TLS at ${base}; ports ${o.ports.join(', ')} closed, /metrics and /readyz not public`);
}
