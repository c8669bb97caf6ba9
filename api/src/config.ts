import { isIP } from 'node:net';
import { z } from 'zod';
import { durationSeconds, loadConfig, port, sections } from '@ct/lib';

/** A duration setting within bounds, its message naming them. */
const boundedDuration = (min: number, max: number) =>
  durationSeconds.pipe(z.number().min(min, `must be at least ${min} seconds`).max(max, `must be at most ${max} seconds`));

/** The API's own settings; combined with the shared database, secrets, n8n and logging sections. */
export const apiConfigSchema = z.object({
  API_PORT: port.default(8080),
  /** Address to bind; the reverse proxy in front terminates TLS (see docs/api.md). */
  API_HOST: z.string().min(1).default('127.0.0.1'),
  /** Signs the short-lived access tokens (HS256); at least 32 characters. */
  API_JWT_SECRET: z.string().min(32, 'must be at least 32 characters'),
  /** Access-token lifetime: 1 to 60 minutes (a stolen token works until it expires or its session is checked). */
  API_ACCESS_TOKEN_TTL: boundedDuration(60, 3600).default(900),
  /** Refresh-token lifetime (idle timeout of a session): each refresh issues a new one. */
  API_REFRESH_TOKEN_TTL: boundedDuration(300, 90 * 86400).default(7 * 86400),
  /** Absolute session lifetime from the password login: no refresh goes past it. */
  API_SESSION_MAX_AGE: boundedDuration(300, 90 * 86400).default(30 * 86400),
  /** How long the API trusts what it read of a session and its user: a disabled user is refused within it. */
  API_SESSION_CHECK_INTERVAL: boundedDuration(0, 60).default(30),
  /** Failed logins in a row an account may have before each attempt waits (whatever the address). */
  API_LOGIN_FREE_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  /** The first wait after those; it doubles at each further attempt, up to API_LOGIN_LOCKOUT_MAX. */
  API_LOGIN_LOCKOUT: boundedDuration(1, 3600).default(30),
  API_LOGIN_LOCKOUT_MAX: boundedDuration(1, 86400).default(900),
  /** Origins allowed by CORS, comma-separated; empty means no cross-origin access at all. */
  API_CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().url('each origin must be a URL such as https://grafana.example.com'))),
  /** Requests per minute per API key / token, and per client IP. */
  API_RATE_LIMIT_PER_KEY: z.coerce.number().int().min(1).default(600),
  API_RATE_LIMIT_PER_IP: z.coerce.number().int().min(1).default(300),
  /** Signed webhook posts per minute per client. */
  API_WEBHOOK_RATE_LIMIT: z.coerce.number().int().min(1).default(6000),
  /**
   * Which reverse proxies' X-Forwarded-For to believe: the number of proxies in front of the API
   * (0: none), or their addresses/subnets, comma-separated. Never "true": that believes whatever
   * address a caller writes in the header (see docs/security.md).
   */
  API_TRUST_PROXY: z
    .string()
    .default('0')
    .transform((v, ctx) => {
      const parsed = parseTrustProxy(v);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    }),
  /** The internal listener: /metrics and /readyz, never on the public port (see docs/api.md). */
  API_INTERNAL_PORT: port.default(8081),
  API_INTERNAL_HOST: z.string().min(1).default('127.0.0.1'),
  /** Shared secret Grafana's plugin proxy sends in X-CT-Proxy-Secret; unset disables that path. */
  API_GRAFANA_PROXY_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** The proxy secret being rotated out, accepted beside API_GRAFANA_PROXY_SECRET until unset (docs/security.md). */
  API_GRAFANA_PROXY_SECRET_PREVIOUS: z.string().min(32, 'must be at least 32 characters').optional(),
  /** How long a rotated-out client secret keeps verifying webhooks. */
  API_SECRET_GRACE: durationSeconds.default(86400),
  /** Executions running longer than this count as stuck (default of the restart action). */
  API_STUCK_THRESHOLD: durationSeconds.default(900),
  /** The shortest olderThan restart-stuck accepts: younger executions are ordinary runs. */
  API_STUCK_MIN_AGE: boundedDuration(60, 86400).default(300),
  /** Prometheus the metric exports read from; unset makes exports answer 503. */
  PROMETHEUS_URL: z.string().url().optional(),
});

/** Express's named subnets: loopback 127.0.0.1/8 and ::1, linklocal, uniquelocal (private ranges). */
const NAMED_SUBNETS = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * API_TRUST_PROXY as express's "trust proxy" takes it: a hop count, or a list of addresses and
 * subnets. Returns the problem as a string when the value is anything else.
 */
export function parseTrustProxy(value: string): number | string[] | string {
  const v = value.trim();
  const fix =
    'set the number of reverse proxies in front of the API (0 when there is none, 1 for one nginx/Caddy) ' +
    'or their addresses/subnets, comma-separated, such as 10.0.0.5,172.18.0.0/16 or loopback';
  if (/^\d+$/.test(v)) return Number(v) <= 10 ? Number(v) : `must be at most 10 hops, got ${v}: ${fix}`;
  if (/^(true|false|yes|no|on|off)$/i.test(v))
    return `"${v}" is not accepted (true would take the client address from whatever X-Forwarded-For a caller sends): ${fix}`;
  const entries = v.split(',').map((e) => e.trim());
  for (const e of entries) {
    if (NAMED_SUBNETS.has(e)) continue;
    const [addr = '', prefix, extra] = e.split('/');
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    if (!family || extra !== undefined) return `"${e}" is not an IP address or subnet: ${fix}`;
    if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= max))
      return `"${e}": the prefix length must be 1-${max} (a /0 trusts every address): ${fix}`;
  }
  return entries;
}

export type ApiConfig = ReturnType<typeof loadApiConfig>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(['database', 'secrets', 'n8n', 'logging'], apiConfigSchema, env);
}

export type ApiSettings = z.infer<typeof apiConfigSchema> & z.infer<typeof sections.secrets>;

/** The settings of sessions, logins, the proxy secret's rotation and restart-stuck, from the config. */
export function credentialSettingsFromConfig(cfg: ApiConfig) {
  return {
    sessionMaxAgeSeconds: cfg.API_SESSION_MAX_AGE,
    sessionCheckIntervalSeconds: cfg.API_SESSION_CHECK_INTERVAL,
    loginFreeFailures: cfg.API_LOGIN_FREE_FAILURES,
    loginLockoutSeconds: cfg.API_LOGIN_LOCKOUT,
    loginLockoutMaxSeconds: cfg.API_LOGIN_LOCKOUT_MAX,
    grafanaProxySecretPrevious: cfg.API_GRAFANA_PROXY_SECRET_PREVIOUS,
    stuckMinAgeSeconds: cfg.API_STUCK_MIN_AGE,
  };
}
