import { z } from 'zod';
import { ConfigError, durationSeconds, loadConfig, type ConfigOf } from '@ct/lib';

/** Org sync's own variables (see .env.example, section "Client portal: Grafana org sync"). */
export const grafanaSyncSchema = z.object({
  /** Grafana's base URL as ct reaches it (the API is under /api). */
  GRAFANA_URL: z
    .string()
    .url()
    .refine((v) => /^https?:\/\//.test(v), 'must be an http:// or https:// URL'),
  /** A Grafana server admin, dedicated to ct: org sync switches this user's current organisation. */
  GRAFANA_ADMIN_USER: z.string().min(1).optional(),
  GRAFANA_ADMIN_PASSWORD: z.string().min(1).optional(),
  /** A service account token instead of the admin user: it reaches one organisation only (see loadGrafanaSyncConfig). */
  GRAFANA_TOKEN: z.string().min(1).optional(),
  GRAFANA_TIMEOUT: durationSeconds.default(10).refine((s) => s > 0 && s <= 300, 'must be between 1s and 5m'),
  /** What sync does with a churned client's organisation: keep it without users or credentials, or delete it. */
  GRAFANA_CHURNED_ORGS: z.enum(['keep', 'delete']).default('keep'),
  /** The tenant proxy as Grafana reaches it: the only Prometheus a client organisation's datasource may name. */
  TENANT_PROXY_URL: z
    .string()
    .url()
    .refine((v) => /^https?:\/\//.test(v), 'must be an http:// or https:// URL')
    .default('http://tenant-proxy:9466'),
  /** host:port of the platform database as Grafana reaches it, for the client's own database role. */
  GRAFANA_PORTAL_DB_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be host or host:port')
    .default('postgres:5432'),
  GRAFANA_PORTAL_DB_NAME: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/, 'must be a database name')
    .default('ct'),
  GRAFANA_PORTAL_DB_SSLMODE: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).default('disable'),
});

export type GrafanaAuth = { kind: 'basic'; user: string; password: string } | { kind: 'token'; token: string };

export type GrafanaSyncConfig = ConfigOf<'database' | 'secrets' | 'logging'> &
  z.infer<typeof grafanaSyncSchema> & {
    grafanaAuth: GrafanaAuth;
  };

/**
 * Loads org sync's settings with the database and secrets sections (sync decrypts each client's
 * portal token). Grafana's credentials are either the admin user and password or a token, never a
 * half of the first or both.
 */
export function loadGrafanaSyncConfig(env: NodeJS.ProcessEnv = process.env): GrafanaSyncConfig {
  const cfg = loadConfig(['database', 'secrets', 'logging'], grafanaSyncSchema, env);
  return { ...cfg, grafanaAuth: grafanaAuthOf(cfg) };
}

/** Only the Grafana variables (for the portal-user commands, which need no secrets key). */
export function loadGrafanaApiConfig(
  env: NodeJS.ProcessEnv = process.env,
): ConfigOf<'database' | 'logging'> & z.infer<typeof grafanaSyncSchema> & { grafanaAuth: GrafanaAuth } {
  const cfg = loadConfig(['database', 'logging'], grafanaSyncSchema, env);
  return { ...cfg, grafanaAuth: grafanaAuthOf(cfg) };
}

function grafanaAuthOf(cfg: z.infer<typeof grafanaSyncSchema>): GrafanaAuth {
  const { GRAFANA_ADMIN_USER: user, GRAFANA_ADMIN_PASSWORD: password, GRAFANA_TOKEN: token } = cfg;
  if (token && (user || password)) {
    throw new ConfigError([
      { variable: 'GRAFANA_TOKEN', message: 'set either GRAFANA_TOKEN or GRAFANA_ADMIN_USER/GRAFANA_ADMIN_PASSWORD, not both' },
    ]);
  }
  if (token) return { kind: 'token', token };
  if (user && password) return { kind: 'basic', user, password };
  if (user) throw new ConfigError([{ variable: 'GRAFANA_ADMIN_PASSWORD', message: 'is required when GRAFANA_ADMIN_USER is set' }]);
  if (password) throw new ConfigError([{ variable: 'GRAFANA_ADMIN_USER', message: 'is required when GRAFANA_ADMIN_PASSWORD is set' }]);
  throw new ConfigError([
    { variable: 'GRAFANA_ADMIN_USER', message: 'is required (with GRAFANA_ADMIN_PASSWORD: a Grafana server admin), or set GRAFANA_TOKEN' },
  ]);
}
