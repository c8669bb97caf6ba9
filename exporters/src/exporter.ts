import express, { type Express } from 'express';
import { Gauge, Registry } from 'prom-client';
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_TEXT_CONTENT_TYPE,
  listen,
  renderMetrics,
  type Logger,
  type Pool,
  type RunningServer,
} from '@ct/lib';
import { CollectorRunner, type CollectorOutcome } from './collector';
import { ActivityCollector } from './collectors/activity';
import { BackupsCollector } from './collectors/backups';
import { BillingCollector } from './collectors/billing';
import { DatabaseCollector } from './collectors/database';
import { N8nCollector, N8nPoller } from './collectors/n8n';
import type { ExecutionSource } from './ingest';

export interface ExporterOptions {
  pool: Pool;
  n8n: ExecutionSource;
  /** Name of the n8n instance in the ingestion cursor. */
  n8nInstance?: string;
  n8nIntervalSeconds?: number;
  /** Bound of one n8n call, used to decide when the last poll is too old to trust. */
  n8nTimeoutSeconds?: number;
  collectorTimeoutSeconds?: number;
  databaseDiskCapacityBytes?: number;
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
  // Only what the exporter's own targets need (the RSS budget); prom-client's default set
  // includes gauges named *_total that promtool rejects.
  new Gauge({
    name: 'ct_exporter_resident_memory_bytes',
    help: 'Resident memory of the exporter process.',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({ name: 'ct_exporter_start_time_seconds', help: 'When the exporter process started.', registers: [registry] }).set(
    Math.round(Date.now() / 1000 - process.uptime()),
  );
  const interval = opts.n8nIntervalSeconds ?? 15;
  const poller = new N8nPoller(opts.pool, opts.n8n, {
    instance: opts.n8nInstance ?? 'default',
    intervalSeconds: interval,
    timeoutSeconds: opts.n8nTimeoutSeconds ?? 10,
    logger: opts.logger,
  });
  const runner = new CollectorRunner(
    registry,
    [
      new N8nCollector(registry, poller, interval),
      new BillingCollector(registry, opts.pool),
      new ActivityCollector(registry, opts.pool),
      new BackupsCollector(registry, opts.pool),
      new DatabaseCollector(registry, opts.pool, opts.databaseDiskCapacityBytes),
    ],
    { timeoutSeconds: opts.collectorTimeoutSeconds ?? 5, logger: opts.logger },
  );
  let outcomes: CollectorOutcome[] = [];
  const before = async () => {
    outcomes = await runner.run();
  };
  /** The registry's metrics, then the per-workflow families cached by the last n8n poll. */
  const scrape = async (openMetrics = false): Promise<string> => {
    const body = await renderMetrics(registry, openMetrics, before);
    const block = poller.workflowBlock;
    if (!openMetrics) return body + block.text;
    return body.replace(/# EOF\n$/, `${block.openMetrics}# EOF\n`);
  };
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (req, res) => {
    const openMetrics = (req.get('accept') ?? '').includes('application/openmetrics-text');
    const body = await scrape(openMetrics);
    res.set('Content-Type', openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_TEXT_CONTENT_TYPE);
    res.end(body);
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
      await renderMetrics(registry, false, before);
      return outcomes;
    },
    scrape,
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
  const server = await listen(exporter.app, { port: opts.port, host: opts.host });
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
