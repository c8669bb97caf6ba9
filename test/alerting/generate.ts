import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';

/**
 * Test configurations GENERATED from the project's real alertmanager.yml, prometheus.yml and
 * rules: only addresses, secrets files and timings are overridden, so the routing tree,
 * inhibitions, templates, job names and alert expressions under test are the production ones.
 * Anything the overrides do not know how to redirect makes generation fail, so a production
 * address can never leak into a test.
 */

export const ROOT = path.resolve(__dirname, '..', '..');
export const REAL_ALERTMANAGER = path.join(ROOT, 'alertmanager.yml');
export const REAL_PROMETHEUS = path.join(ROOT, 'prometheus.yml');
export const REAL_RULES_DIR = path.join(ROOT, 'alerting', 'rules');

type Yaml = Record<string, unknown>;
interface Route extends Yaml {
  routes?: Route[];
}

export interface AlertmanagerOverrides {
  /** Base URL that replaces http://notifier:9465 in webhook URLs. */
  notifierUrl: string;
  /** File holding the notifier's bearer token. */
  notifierTokenFile: string;
  /** Base URL that replaces the dead man's switch host (the path is kept). */
  heartbeatUrl: string;
  heartbeatKeyFile: string;
  smtp: { host: string; port: number };
  /** Timings applied to every route (defaults: 1s / 2s / 1h). */
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
}

export function testAlertmanagerConfig(o: AlertmanagerOverrides): string {
  const cfg = parse(readFileSync(REAL_ALERTMANAGER, 'utf8')) as Yaml;
  const global = cfg.global as Yaml;
  global.smtp_smarthost = `${o.smtp.host}:${o.smtp.port}`;
  // The SMTP sink speaks plain SMTP without authentication.
  global.smtp_require_tls = false;
  delete global.smtp_auth_username;
  delete global.smtp_auth_password_file;
  cfg.templates = (cfg.templates as string[]).map((t) => path.resolve(ROOT, t));
  const retime = (route: Route) => {
    route.group_wait = o.groupWait ?? '1s';
    route.group_interval = o.groupInterval ?? '2s';
    route.repeat_interval = o.repeatInterval ?? '1h';
    for (const child of route.routes ?? []) retime(child);
  };
  retime(cfg.route as Route);
  for (const receiver of cfg.receivers as Yaml[]) {
    for (const hook of (receiver.webhook_configs ?? []) as Yaml[]) {
      const url = new URL(String(hook.url));
      const auth = ((hook.http_config as Yaml | undefined)?.authorization ?? {}) as Yaml;
      if (url.origin === 'http://notifier:9465') {
        hook.url = `${o.notifierUrl}${url.pathname}`;
        if (auth.type !== 'Bearer') throw new Error(`receiver ${String(receiver.name)}: notifier webhook without Bearer authorization`);
        auth.credentials_file = o.notifierTokenFile;
      } else if (receiver.name === 'deadmans-switch') {
        hook.url = `${o.heartbeatUrl}${url.pathname}`;
        auth.credentials_file = o.heartbeatKeyFile;
      } else {
        throw new Error(`receiver ${String(receiver.name)}: no test override for webhook ${url.origin}`);
      }
    }
    for (const key of Object.keys(receiver)) {
      if (!['name', 'webhook_configs', 'email_configs'].includes(key))
        throw new Error(`receiver ${String(receiver.name)}: no test override for ${key}`);
    }
  }
  return stringify(cfg);
}

/**
 * The real rules with every `for:` and group interval shortened, so an alert fires seconds after
 * its condition; thresholds and expressions are untouched. Returns the folder written.
 */
export function writeTestRules(dir: string, opts: { for?: string; interval?: string } = {}): string {
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(REAL_RULES_DIR).filter((f) => f.endsWith('.yml'))) {
    const doc = parse(readFileSync(path.join(REAL_RULES_DIR, file), 'utf8')) as { groups: (Yaml & { rules: Yaml[] })[] };
    for (const group of doc.groups) {
      group.interval = opts.interval ?? '1s';
      for (const rule of group.rules) if (rule.for !== undefined) rule.for = opts.for ?? '1s';
    }
    writeFileSync(path.join(dir, file), stringify(doc));
  }
  return dir;
}

export interface PrometheusOverrides {
  /** Alertmanager base URLs (http://127.0.0.1:port). */
  alertmanagers: string[];
  /**
   * Job name of the real config → the test targets that replace its targets: host:port strings,
   * or static configs with their labels (the probe job's `service`).
   */
  targets: Record<string, string[] | { targets: string[]; labels?: Record<string, string> }[]>;
  rulesDir: string;
  /** host:port of a local blackbox_exporter, replacing the real one in relabelling. */
  blackboxExporter?: string;
}

const REAL_BLACKBOX_ADDRESS = 'blackbox-exporter:9115';

/** The real prometheus.yml with 1 s intervals, the given jobs only, and local Alertmanagers. */
export function testPrometheusConfig(o: PrometheusOverrides): string {
  const cfg = parse(readFileSync(REAL_PROMETHEUS, 'utf8')) as Yaml;
  cfg.global = { ...(cfg.global as Yaml), scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };
  cfg.rule_files = [path.join(o.rulesDir, '*.yml')];
  const am = (cfg.alerting as { alertmanagers: Yaml[] }).alertmanagers;
  if (am.length !== 1) throw new Error('expected one alertmanagers entry in prometheus.yml');
  am[0]!.static_configs = [{ targets: o.alertmanagers.map((u) => new URL(u).host) }];
  const jobs = cfg.scrape_configs as Yaml[];
  const kept: Yaml[] = [];
  for (const [job, targets] of Object.entries(o.targets)) {
    const real = jobs.find((j) => j.job_name === job);
    if (!real) throw new Error(`prometheus.yml has no job ${job}: the alert rules expect it`);
    const relabel = ((real.relabel_configs ?? []) as Yaml[]).map((r) => {
      if (r.replacement !== REAL_BLACKBOX_ADDRESS) return r;
      if (!o.blackboxExporter) throw new Error(`job ${job} probes through blackbox_exporter: pass blackboxExporter`);
      return { ...r, replacement: o.blackboxExporter };
    });
    const staticConfigs = targets.map((t) => (typeof t === 'string' ? { targets: [t] } : t));
    kept.push({
      ...real,
      scrape_interval: '1s',
      scrape_timeout: '1s',
      static_configs: staticConfigs,
      ...(relabel.length ? { relabel_configs: relabel } : {}),
    });
  }
  cfg.scrape_configs = kept;
  return stringify(cfg);
}

/** alerting/blackbox.yml with a test CA trusted by its TLS checks (for a self-signed server). */
export function testBlackboxConfig(caFile: string): string {
  const cfg = parse(readFileSync(path.join(ROOT, 'alerting', 'blackbox.yml'), 'utf8')) as {
    modules: Record<string, { http?: { tls_config?: Yaml } }>;
  };
  for (const mod of Object.values(cfg.modules)) {
    if (mod.http) mod.http.tls_config = { ...(mod.http.tls_config ?? {}), ca_file: caFile };
  }
  return stringify(cfg);
}
