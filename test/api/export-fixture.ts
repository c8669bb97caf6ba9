import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import type { Registry } from 'prom-client';
import { listen, metricsHandler, type RunningServer } from '@ct/lib';
import { startPrometheus, type PrometheusService } from '../bench/services';
import { startTestApi, type TestApi } from './harness';

export interface ExportFixture {
  prom: PrometheusService;
  api: TestApi;
  close(): Promise<void>;
}

/**
 * What the metric-export suites share: a small exporter serving `registry`, a private Prometheus
 * scraping it every second, and the API reading that Prometheus.
 */
export async function startExportFixture(registry: Registry, name: string): Promise<ExportFixture> {
  const dir = mkdtempSync(path.join(tmpdir(), `ct-${name}-`));
  const app = express();
  app.get('/metrics', metricsHandler(registry));
  let exporter: RunningServer | undefined;
  let prom: PrometheusService | undefined;
  let api: TestApi | undefined;
  const close = async () => {
    await api?.close();
    await exporter?.close(500);
    await prom?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    exporter = await listen(app, { port: 0 });
    prom = await startPrometheus(dir, {
      config: `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ct\n    static_configs:\n      - targets: ['127.0.0.1:${exporter.port}']\n`,
    });
    api = await startTestApi({ settings: { prometheusUrl: prom.url } });
    return { prom, api, close };
  } catch (err) {
    await close();
    throw err;
  }
}
