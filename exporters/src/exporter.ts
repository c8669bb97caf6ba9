import express, { type Express } from 'express';
import { Registry } from 'prom-client';
import {
  listen,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_TEXT_CONTENT_TYPE,
  registerProcessMetrics,
  renderMetrics,
  type Logger,
  type Pool,
  type RunningServer,
} from '@ct/lib';
import { CollectorRunner, type CollectorOutcome } from './collector';
import { ActivityCollector } from './collectors/activity';
import { BackupsCollector } from './collectors/backups';
import { BillingCollector } from './collectors/billing';
import { TableFingerprints } from './fingerprints';
import { DatabaseCollector } from './collectors/database';
import { N8nCollector, N8nPoller } from './collectors/n8n';
import { decodedText, encodedParts, gzipBytes, type EncodedFamily } from './exposition';
import type { ExecutionSource } from './ingest';

export interface ExporterOptions {
  pool: Pool;
  n8n: ExecutionSource;
  /** Name of the n8n instance in the ingestion cursor. */
  n8nInstance?: string;
  /** n8n's address: a second instance name for an n8n another cursor ingests is refused. */
  n8nUrl?: string;
  n8nIntervalSeconds?: number;
  /** Bound of one n8n call, used to decide when the last poll is too old to trust. */
  n8nTimeoutSeconds?: number;
  collectorTimeoutSeconds?: number;
  databaseDiskCapacityBytes?: number;
  /** ALERT_ADMIN_ALLOWLIST: where admin actions are expected from (IPs or CIDR ranges). */
  adminAllowlist?: string[];
  logger?: Logger;
}

export interface Exporter {
  app: Express;
  registry: Registry;
  poller: N8nPoller;
  /** Runs every collector once (what each scrape does) and reports how each fared. */
  collect(): Promise<CollectorOutcome[]>;
  /** A whole scrape, as GET /metrics answers it. */
  scrape(openMetrics?: boolean): Promise<string>;
}

export function createExporter(opts: ExporterOptions): Exporter {
  const registry = new Registry();
  registerProcessMetrics(registry, 'ct_exporter_');
  const interval = opts.n8nIntervalSeconds ?? 15;
  const poller = new N8nPoller(opts.pool, opts.n8n, {
    instance: opts.n8nInstance ?? 'default',
    n8nUrl: opts.n8nUrl,
    intervalSeconds: interval,
    timeoutSeconds: opts.n8nTimeoutSeconds ?? 10,
    logger: opts.logger,
  });
  // Billing and activity read some of the same tables: one fingerprint query serves both.
  const fingerprints = new TableFingerprints(opts.pool);
  const runner = new CollectorRunner(
    registry,
    [
      new N8nCollector(registry, poller, interval),
      new BillingCollector(registry, opts.pool, fingerprints),
      new ActivityCollector(opts.pool, fingerprints),
      new BackupsCollector(registry, opts.pool),
      new DatabaseCollector(registry, opts.pool, opts.databaseDiskCapacityBytes, opts.adminAllowlist),
    ],
    { timeoutSeconds: opts.collectorTimeoutSeconds ?? 5, logger: opts.logger },
  );
  let outcomes: CollectorOutcome[] = [];
  /**
   * One scrape: the registry's metrics, rendered now (a few hundred lines), then the families of
   * the collectors and the per-workflow families, already gzip members; all taken in the same turn.
   */
  const collectParts = async (openMetrics: boolean) => {
    let families: EncodedFamily[] = [];
    const body = await renderMetrics(registry, openMetrics, async () => {
      outcomes = await runner.run();
      families = [...runner.families(), ...poller.workflowBlock.families];
    });
    return { head: openMetrics ? body.replace(/# EOF\n$/, '') : body, families };
  };
  const EOF = '# EOF\n';
  const eofGzip = gzipBytes(EOF);
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (req, res) => {
    const openMetrics = (req.get('accept') ?? '').includes('application/openmetrics-text');
    const compressed = /\bgzip\b/.test(req.get('accept-encoding') ?? '');
    const { head, families } = await collectParts(openMetrics);
    res.set('Content-Type', openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_TEXT_CONTENT_TYPE);
    res.set('Vary', 'Accept-Encoding');
    if (compressed) res.set('Content-Encoding', 'gzip');
    // The kept gzip members are written as they are, not copied per scrape; a scrape without gzip
    // (rare: Prometheus always asks for it) inflates them.
    const chunks: (Buffer | string)[] = compressed
      ? [await gzipBytes(head), ...encodedParts(families, openMetrics)]
      : [head, decodedText(families, openMetrics)];
    if (openMetrics) chunks.push(compressed ? await eofGzip : EOF);
    for (const c of chunks) res.write(c);
    res.end();
  });
  // Liveness of the exporter itself: sources that are down show in /metrics, not here.
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', n8n: poller.fresh() ? 'up' : 'down' });
  });
  return {
    app,
    registry,
    poller,
    async collect() {
      await collectParts(false);
      return outcomes;
    },
    async scrape(openMetrics = false) {
      const { head, families } = await collectParts(openMetrics);
      return head + decodedText(families, openMetrics) + (openMetrics ? EOF : '');
    },
  };
}

export interface RunningExporter extends Exporter {
  server: RunningServer;
  url: string;
  stop(): Promise<void>;
}

/** Starts the HTTP server and the n8n poll. */
export async function startExporter(opts: ExporterOptions & { port: number; host?: string }): Promise<RunningExporter> {
  const exporter = createExporter(opts);
  const server = await listen(exporter.app, { port: opts.port, host: opts.host, setting: 'EXPORTER_PORT' });
  exporter.poller.start();
  return {
    ...exporter,
    server,
    url: server.url,
    async stop() {
      await exporter.poller.stop();
      await server.close(5000);
    },
  };
}
