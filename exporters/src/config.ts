import { isIP } from 'node:net';
import { z } from 'zod';
import { durationSeconds, loadConfig, port, type ConfigOf } from '@ct/lib';

/** A size such as `50GB`, `500MiB` or a plain number of bytes. Parsed to bytes. */
export const sizeBytes = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/i.exec(String(v).trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: 'must be a size like 50GB, 500MiB or a number of bytes' });
    return z.NEVER;
  }
  const units: Record<string, number> = {
    b: 1,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    tb: 1e12,
    kib: 2 ** 10,
    mib: 2 ** 20,
    gib: 2 ** 30,
    tib: 2 ** 40,
  };
  return Math.round(Number(m[1]) * (units[(m[2] ?? 'b').toLowerCase()] ?? 1));
});

export const exporterSchema = z.object({
  /** Port of GET /metrics and GET /healthz. */
  EXPORTER_PORT: port.default(9464),
  /** Address to listen on; 0.0.0.0 in a container. */
  EXPORTER_HOST: z.string().min(1).default('127.0.0.1'),
  /** How often finished n8n executions are ingested and n8n's live state is refreshed. */
  EXPORTER_N8N_INTERVAL: durationSeconds.default(15).refine((s) => s >= 0.1, 'must be at least 100ms'),
  /** Name of the n8n instance in the ingestion cursor (one cursor per instance). */
  EXPORTER_N8N_INSTANCE: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z 0-9 . _ -')
    .default('default'),
  /** Time budget of one collector during a scrape; beyond it the collector reports up 0. */
  EXPORTER_COLLECTOR_TIMEOUT: durationSeconds.default(5),
  /** Capacity of the platform database's disk, reported as ct_database_disk_capacity_bytes. */
  EXPORTER_DATABASE_DISK_CAPACITY: sizeBytes.optional(),
  /**
   * Addresses admin actions are expected from (comma-separated IPs or CIDR ranges); audit rows of
   * admin actors from elsewhere are counted in ct_audit_admin_actions_outside_allowlist. Unset:
   * not counted (the metric is absent).
   */
  ALERT_ADMIN_ALLOWLIST: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return undefined;
      const list = v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const entry of list) {
        const [ip, bits, extra] = entry.split('/');
        const version = isIP(ip ?? '');
        const max = version === 4 ? 32 : 128;
        if (!version || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
          ctx.addIssue({ code: 'custom', message: `"${entry}" is not an IP address or CIDR range (e.g. 203.0.113.0/24)` });
          return z.NEVER;
        }
      }
      return list;
    }),
});

export type ExporterConfig = ConfigOf<'database' | 'n8n' | 'logging'> & z.infer<typeof exporterSchema>;

export function loadExporterConfig(env: NodeJS.ProcessEnv = process.env): ExporterConfig {
  return loadConfig(['database', 'n8n', 'logging'], exporterSchema, env);
}
