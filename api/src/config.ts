import { z } from 'zod';
import { durationSeconds, loadConfig, port, sections } from '@ct/lib';

/** The API's own settings; combined with the shared database, secrets, n8n and logging sections. */
export const apiConfigSchema = z.object({
  API_PORT: port.default(8080),
  /** Address to bind; the reverse proxy in front terminates TLS (see docs/api.md). */
  API_HOST: z.string().min(1).default('127.0.0.1'),
  /** Signs the short-lived access tokens (HS256); at least 32 characters. */
  API_JWT_SECRET: z.string().min(32, 'must be at least 32 characters'),
  API_ACCESS_TOKEN_TTL: durationSeconds.default(900),
  API_REFRESH_TOKEN_TTL: durationSeconds.default(30 * 86400),
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
  /** express "trust proxy": false, true, a hop count, or addresses/subnets such as loopback. */
  API_TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v): boolean | number | string => (v === 'true' ? true : v === 'false' ? false : /^\d+$/.test(v) ? Number(v) : v)),
  /** Shared secret Grafana's plugin proxy sends in X-CT-Proxy-Secret; unset disables that path. */
  API_GRAFANA_PROXY_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** How long a rotated-out client secret keeps verifying webhooks. */
  API_SECRET_GRACE: durationSeconds.default(86400),
  /** Executions running longer than this count as stuck (default of the restart action). */
  API_STUCK_THRESHOLD: durationSeconds.default(900),
  /** Prometheus the metric exports read from; unset makes exports answer 503. */
  PROMETHEUS_URL: z.string().url().optional(),
});

export type ApiConfig = ReturnType<typeof loadApiConfig>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(['database', 'secrets', 'n8n', 'logging'], apiConfigSchema, env);
}

export type ApiSettings = z.infer<typeof apiConfigSchema> & z.infer<typeof sections.secrets>;
