/** What `npm run bench:growth` measures at one size of the agency. */
export interface GrowthRow {
  clients: number;
  workflows: number;
  events: number;
  invoices: number;
  /** pg_database_size after seeding, before measuring. */
  databaseBytes: number;
  /** Seconds spent growing the database to this size (from the previous one). */
  seedSeconds: number;
  /** One-minute load average when this size's measurements started (the machine is shared). */
  loadAverage: number;
  exporter: ExporterFigures | { error: string };
  /** Durable webhook events per second (rows committed ÷ phase length) and the posts' p99. */
  webhookEventsPerSecond: number;
  webhookP99Ms: number;
  webhookErrors: number;
  /** GET /api/clients at a fixed 200 requests/s. */
  readP50Ms: number;
  readP99Ms: number;
  readErrors: number;
  /** `ct backup run`: wall time of the whole command and the size of the object it stored. */
  backupSeconds: number;
  backupObjectBytes: number;
}

export interface ExporterFigures {
  /** Seconds from spawning `ct serve exporters` to its first complete /metrics. */
  readySeconds: number;
  series: number;
  /** Decoded body of one scrape. */
  bodyBytes: number;
  scrapeMedianMs: number;
  scrapeP99Ms: number;
  /** VmHWM of the exporter process after the scrapes. */
  peakRssMb: number;
  /** Collectors reporting ct_exporter_collector_up 0 in the last scrape. */
  collectorsDown: number;
}

export const exporterOk = (row: GrowthRow): ExporterFigures | undefined => ('error' in row.exporter ? undefined : row.exporter);

/** 10000 → "10,000". */
export const thousands = (n: number) => Math.round(n).toLocaleString('en');
