import { ConfigError } from '@ct/lib';
import { loadExporterConfig } from './config';

const base = { DATABASE_URL: 'postgres://ct@127.0.0.1:5432/ct', N8N_URL: 'http://127.0.0.1:5678', N8N_API_KEY: 'k' };

test('defaults, durations and sizes are parsed', () => {
  const cfg = loadExporterConfig({ ...base, EXPORTER_N8N_INTERVAL: '30s', EXPORTER_DATABASE_DISK_CAPACITY: '50GB' });
  expect(cfg.EXPORTER_PORT).toBe(9464);
  expect(cfg.EXPORTER_N8N_INTERVAL).toBe(30);
  expect(cfg.EXPORTER_DATABASE_DISK_CAPACITY).toBe(50e9);
  expect(loadExporterConfig({ ...base, EXPORTER_DATABASE_DISK_CAPACITY: '2GiB' }).EXPORTER_DATABASE_DISK_CAPACITY).toBe(2 ** 31);
  expect(loadExporterConfig(base).EXPORTER_DATABASE_DISK_CAPACITY).toBeUndefined();
});

test('every bad variable is named at once', () => {
  let err: unknown;
  try {
    loadExporterConfig({ ...base, N8N_API_KEY: '', EXPORTER_PORT: '70000', EXPORTER_N8N_INSTANCE: 'Not Valid' });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual(['EXPORTER_N8N_INSTANCE', 'EXPORTER_PORT', 'N8N_API_KEY']);
});
