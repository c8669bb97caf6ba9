import { createLogger, poolFromConfig, errorMessage, keyringFromConfig, listen, N8nClient, UserError, type RunningServer } from '@ct/lib';
import { createApp, type AppOptions } from './app';
import { credentialSettingsFromConfig, loadApiConfig, type ApiConfig } from './config';
import type { ForceBackup } from './routes/common';

/** Turns the validated environment into the app's settings. */
export function settingsFromConfig(cfg: ApiConfig): AppOptions['settings'] {
  return {
    jwtSecret: cfg.API_JWT_SECRET,
    accessTtlSeconds: cfg.API_ACCESS_TOKEN_TTL,
    refreshTtlSeconds: cfg.API_REFRESH_TOKEN_TTL,
    secretGraceSeconds: cfg.API_SECRET_GRACE,
    stuckThresholdSeconds: cfg.API_STUCK_THRESHOLD,
    prometheusUrl: cfg.PROMETHEUS_URL,
    corsOrigins: cfg.API_CORS_ORIGINS,
    rateLimitPerIp: cfg.API_RATE_LIMIT_PER_IP,
    rateLimitPerKey: cfg.API_RATE_LIMIT_PER_KEY,
    webhookRateLimit: cfg.API_WEBHOOK_RATE_LIMIT,
    trustProxy: cfg.API_TRUST_PROXY,
    grafanaProxySecret: cfg.API_GRAFANA_PROXY_SECRET,
    ...credentialSettingsFromConfig(cfg),
  };
}

export interface StartApiDeps {
  forceBackup?: ForceBackup;
  env?: NodeJS.ProcessEnv;
}

/** `ct serve api`: validates the config, starts both listeners (public and internal), returns stop(). */
export async function startApi(
  opts: { port?: number } = {},
  deps: StartApiDeps = {},
): Promise<{ stop(): Promise<void>; server: RunningServer; internal: RunningServer }> {
  const cfg = loadApiConfig(deps.env);
  const logger = createLogger({ level: cfg.LOG_LEVEL, format: cfg.LOG_FORMAT, name: 'api' });
  const pool = poolFromConfig(cfg, { applicationName: 'ct-api', statementTimeoutMs: 30_000 });
  const n8n = new N8nClient({
    url: cfg.N8N_URL,
    apiKey: cfg.N8N_API_KEY,
    ownerEmail: cfg.N8N_OWNER_EMAIL,
    ownerPassword: cfg.N8N_OWNER_PASSWORD,
    timeoutSeconds: cfg.N8N_TIMEOUT,
  });
  const { app, internal } = createApp({
    pool,
    n8n,
    keyring: keyringFromConfig(cfg),
    logger,
    settings: settingsFromConfig(cfg),
    forceBackup: deps.forceBackup,
  });
  let server: RunningServer;
  let internalServer: RunningServer;
  try {
    server = await listen(app, { port: opts.port ?? cfg.API_PORT, host: cfg.API_HOST, setting: 'API_PORT' });
  } catch (err) {
    await pool.end();
    throw new UserError(`cannot listen on ${cfg.API_HOST}:${opts.port ?? cfg.API_PORT}: ${errorMessage(err)}`);
  }
  try {
    internalServer = await listen(internal, { port: cfg.API_INTERNAL_PORT, host: cfg.API_INTERNAL_HOST, setting: 'API_INTERNAL_PORT' });
  } catch (err) {
    await server.close(0);
    await pool.end();
    throw new UserError(`cannot listen on ${cfg.API_INTERNAL_HOST}:${cfg.API_INTERNAL_PORT} (API_INTERNAL_PORT): ${errorMessage(err)}`);
  }
  logger.info(
    { url: server.url, internal: internalServer.url, backups: deps.forceBackup ? 'wired' : 'not configured' },
    'api listening (metrics and readiness on the internal address)',
  );
  return {
    server,
    internal: internalServer,
    async stop() {
      await Promise.all([server.close(), internalServer.close()]);
      await pool.end();
    },
  };
}
