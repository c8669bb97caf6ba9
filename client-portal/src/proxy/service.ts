import { assertReachable, createLogger, describePgError, poolFromConfig, redactUrl } from '@ct/lib';
import { loadTenantProxyConfig } from './config';
import { startTenantProxy } from './server';

/** `ct serve tenant-proxy`: configuration from the environment, --port overrides TENANT_PROXY_PORT. */
export async function startTenantProxyService(opts: { port?: number } = {}): Promise<{ stop(): Promise<void> }> {
  const cfg = loadTenantProxyConfig();
  const logger = createLogger({ level: cfg.LOG_LEVEL, format: cfg.LOG_FORMAT, name: 'tenant-proxy' });
  const pool = poolFromConfig(cfg, { applicationName: 'ct-tenant-proxy', statementTimeoutMs: 5000 });
  // It starts with the database down (every request is then answered 503) and says so.
  await assertReachable(pool, cfg.DATABASE_URL).catch((err) =>
    logger.warn({ database: redactUrl(cfg.DATABASE_URL), err: describePgError(err) }, 'platform database unreachable at start'),
  );
  let running;
  try {
    running = await startTenantProxy({
      pool,
      prometheusUrl: cfg.PROMETHEUS_URL,
      logger,
      port: opts.port ?? cfg.TENANT_PROXY_PORT,
      metricsPort: cfg.TENANT_PROXY_METRICS_PORT,
      host: cfg.TENANT_PROXY_HOST,
      authCacheSeconds: cfg.TENANT_PROXY_AUTH_CACHE,
      limits: {
        timeoutSeconds: cfg.TENANT_PROXY_TIMEOUT,
        maxQueryLength: cfg.TENANT_PROXY_MAX_QUERY_LENGTH,
        maxBodyBytes: cfg.TENANT_PROXY_MAX_BODY_BYTES,
        maxConcurrent: cfg.TENANT_PROXY_MAX_CONCURRENT,
        maxQueued: cfg.TENANT_PROXY_MAX_QUEUED,
      },
    });
  } catch (err) {
    await pool.end();
    throw err;
  }
  logger.info(
    { url: running.url, metrics: `${running.metricsUrl}/metrics`, prometheus: redactUrl(cfg.PROMETHEUS_URL) },
    'tenant proxy listening',
  );
  const proxy = running;
  return {
    async stop() {
      await proxy.stop();
      await pool.end();
      logger.info('tenant proxy stopped');
    },
  };
}
