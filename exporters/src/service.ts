import { N8nClient, assertReachable, createLogger, poolFromConfig, describePgError, redactUrl } from '@ct/lib';
import { loadExporterConfig } from './config';
import { startExporter } from './exporter';

/** `ct serve exporters`: configuration from the environment, --port overrides EXPORTER_PORT. */
export async function startExportersService(opts: { port?: number } = {}): Promise<{ stop(): Promise<void> }> {
  const cfg = loadExporterConfig();
  const logger = createLogger({ level: cfg.LOG_LEVEL, format: cfg.LOG_FORMAT, name: 'exporters' });
  const pool = poolFromConfig(cfg, {
    applicationName: 'ct-exporters',
    statementTimeoutMs: Math.round(cfg.EXPORTER_COLLECTOR_TIMEOUT * 1000),
  });
  // An exporter starts even when its sources are down: that is what it is there to report.
  await assertReachable(pool, cfg.DATABASE_URL).catch((err) =>
    logger.warn({ database: redactUrl(cfg.DATABASE_URL), err: describePgError(err) }, 'platform database unreachable at start'),
  );
  const n8n = new N8nClient({ url: cfg.N8N_URL, apiKey: cfg.N8N_API_KEY, timeoutSeconds: cfg.N8N_TIMEOUT });
  let running;
  try {
    running = await startExporter({
      pool,
      n8n,
      n8nInstance: cfg.EXPORTER_N8N_INSTANCE,
      n8nUrl: cfg.N8N_URL,
      n8nIntervalSeconds: cfg.EXPORTER_N8N_INTERVAL,
      n8nTimeoutSeconds: cfg.N8N_TIMEOUT,
      collectorTimeoutSeconds: cfg.EXPORTER_COLLECTOR_TIMEOUT,
      databaseDiskCapacityBytes: cfg.EXPORTER_DATABASE_DISK_CAPACITY,
      adminAllowlist: cfg.ALERT_ADMIN_ALLOWLIST,
      logger,
      port: opts.port ?? cfg.EXPORTER_PORT,
      host: cfg.EXPORTER_HOST,
    });
  } catch (err) {
    await pool.end();
    throw err;
  }
  logger.info({ url: `${running.url}/metrics` }, 'exporters listening');
  const exporter = running;
  return {
    async stop() {
      await exporter.stop();
      await pool.end();
      logger.info('exporters stopped');
    },
  };
}
