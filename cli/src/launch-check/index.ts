import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from '@ct/lib';
import { checkNpmAudit, runNpmAudit, type CommandOutput } from './audit';
import { checkBackupWithinSchedule, checkRestoreDrill, NotMigrated } from './backups';
import { checkDocs } from './docs';
import {
  checkAlertmanagerCluster,
  checkNotifier,
  checkPrometheusRules,
  checkPrometheusTargets,
  projectRuleGroups,
  sendTestAlert,
} from './monitoring';
import { checkAdminApp, checkDashboards, checkGrafanaHealth, provisionedDashboardUids, type GrafanaAccess } from './portal';
import { checkSecrets } from './secrets';
import { checkApiBehindProxy, checkTls } from './tls';
import { fail, type Check, type Outcome, type Section } from './types';

export * from './types';
export * from './runner';
export * from './printer';

/**
 * `ct launch-check`: the roadmap's pre-launch checklist. Each check reads what it needs from the
 * environment (the production .env) when it runs, so one missing variable fails one check, named,
 * and the rest of the list still runs.
 */

/** The public hostnames Caddy serves (deploy/caddy/Caddyfile, .env.example); host or host:port. */
export const PUBLIC_HOST_VARIABLES = ['GRAFANA_PUBLIC_HOST', 'API_PUBLIC_HOST', 'N8N_PUBLIC_HOST'] as const;
/** Addresses as ct reaches them inside the compose stack, when the environment names none. */
export const STACK_DEFAULTS: Record<string, string> = {
  PROMETHEUS_URL: 'http://prometheus:9090',
  ALERTMANAGER_URLS: 'http://alertmanager-1:9093,http://alertmanager-2:9093',
  NOTIFIER_URL: 'http://notifier:9465',
  GRAFANA_URL: 'http://grafana:3000',
};

export interface LaunchCheckDeps {
  env: NodeJS.ProcessEnv;
  /** The repository: alerting/rules, provisioning/, .env.example. */
  root: string;
  /** The operator documents (default: <root>/docs). */
  docsDir?: string;
  /** The platform database (backup_runs); opened from DATABASE_URL by the command. */
  pool?: () => Promise<Pick<Pool, 'query'>>;
  /** `npm audit --omit=dev --json` (default: run it in the repository). */
  npmAudit?: () => Promise<CommandOutput>;
  /** Certificates trusted besides the system's. */
  ca?: string | string[];
  /** --send-test: post a test alert and wait this long for its delivery. */
  sendTest?: { timeoutMs: number };
  now?: () => Date;
}

class MissingVariable extends Error {}

const need = (env: NodeJS.ProcessEnv, name: string): string => {
  const v = env[name]?.trim() || STACK_DEFAULTS[name];
  if (!v) throw new MissingVariable(name);
  return v.replace(/\/+$/, '');
};

/** Runs a check body; a variable it needs and lacks is that check's failure. */
const guarded = (fn: () => Promise<Outcome>) => async (): Promise<Outcome> => {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof NotMigrated) {
      return fail('the database has no backup_runs table', 'check DATABASE_URL names the platform database, and run ct migrate');
    }
    if (err instanceof MissingVariable) {
      return fail(
        `${err.message} is not set`,
        `set ${err.message} (see .env.example) and run ct launch-check with the production .env loaded`,
      );
    }
    throw err;
  }
};

function alertmanagers(env: NodeJS.ProcessEnv): string[] {
  return need(env, 'ALERTMANAGER_URLS')
    .split(',')
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter(Boolean);
}

function grafanaAccess(env: NodeJS.ProcessEnv): GrafanaAccess {
  const url = need(env, 'GRAFANA_URL');
  const token = env.GRAFANA_TOKEN;
  const user = env.GRAFANA_ADMIN_USER;
  const password = env.GRAFANA_ADMIN_PASSWORD;
  if (token) return { url, authorization: `Bearer ${token}` };
  if (user && password) return { url, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`, orgId: 1 };
  throw new MissingVariable('GRAFANA_ADMIN_USER/GRAFANA_ADMIN_PASSWORD (or GRAFANA_TOKEN)');
}

export function launchChecks(d: LaunchCheckDeps): Check[] {
  const { env } = d;
  const now = () => d.now?.() ?? new Date();
  const check = (id: string, section: Section, title: string, run: () => Promise<Outcome>, timeoutMs?: number): Check => ({
    id,
    section,
    title,
    run: guarded(run),
    timeoutMs,
  });
  const pool = async () => {
    if (!d.pool) throw new MissingVariable('DATABASE_URL');
    return d.pool();
  };
  const readEnvExample = () => {
    try {
      return readFileSync(path.join(d.root, '.env.example'), 'utf8');
    } catch {
      return undefined;
    }
  };
  const checks: Check[] = [
    check('monitoring.targets', 'monitoring', 'Prometheus reaches every target', () => checkPrometheusTargets(need(env, 'PROMETHEUS_URL'))),
    check('monitoring.rules', 'monitoring', 'alert and recording rules loaded', () =>
      checkPrometheusRules(need(env, 'PROMETHEUS_URL'), projectRuleGroups(path.join(d.root, 'alerting', 'rules'))),
    ),
    check('monitoring.alertmanagers', 'monitoring', 'both Alertmanagers up and clustered', () =>
      checkAlertmanagerCluster(alertmanagers(env)),
    ),
    check('monitoring.notifier', 'monitoring', 'the notifier answers', () => checkNotifier(need(env, 'NOTIFIER_URL'))),
  ];
  if (d.sendTest) {
    const timeoutMs = d.sendTest.timeoutMs;
    checks.push(
      check(
        'monitoring.test-alert',
        'monitoring',
        'a test alert delivered end to end',
        () => sendTestAlert({ alertmanagers: alertmanagers(env), timeoutMs }),
        timeoutMs + 30_000,
      ),
    );
  }
  checks.push(
    check('backups.database', 'backups', 'a successful backup within its schedule', async () =>
      checkBackupWithinSchedule({
        pool: await pool(),
        schedule: env.SCHEDULE_DATABASE_BACKUP?.trim() || '0 */6 * * *',
        timezone: env.SCHEDULE_TIMEZONE?.trim() || 'UTC',
        now: now(),
      }),
    ),
    check('backups.drill', 'backups', 'a successful restore drill within 7 days', async () =>
      checkRestoreDrill({ pool: await pool(), now: now() }),
    ),
    check('security.secrets', 'security', 'no default or weak secrets', () => checkSecrets({ env, envExample: readEnvExample() })),
    check('security.tls', 'security', 'TLS on every public hostname', () =>
      checkTls({
        hosts: PUBLIC_HOST_VARIABLES.map((variable) => ({ variable, host: env[variable]?.trim() || undefined })),
        ca: d.ca,
        now: now(),
      }),
    ),
    check('security.api-proxy', 'security', 'the API reachable only through the proxy', () =>
      checkApiBehindProxy({
        publicHost: env.API_PUBLIC_HOST?.trim() || undefined,
        ports: [Number(env.API_PORT || 8080), Number(env.API_INTERNAL_PORT || 8081)],
        ca: d.ca,
      }),
    ),
    check(
      'security.npm-audit',
      'security',
      'npm audit --omit=dev clean of high/critical',
      () => checkNpmAudit(d.npmAudit ?? (() => runNpmAudit(d.root))),
      150_000,
    ),
    check('portal.grafana', 'portal', 'Grafana reachable', () => checkGrafanaHealth({ url: need(env, 'GRAFANA_URL') })),
    check('portal.plugin', 'portal', 'the admin app plugin enabled', () => checkAdminApp(grafanaAccess(env))),
    check('portal.dashboards', 'portal', 'the admin dashboards provisioned', () =>
      checkDashboards(grafanaAccess(env), provisionedDashboardUids(path.join(d.root, 'provisioning', 'dashboards', 'admin'))),
    ),
    check('docs.operator', 'docs', 'the operator documents present', () => checkDocs(d.docsDir ?? path.join(d.root, 'docs'))),
  );
  return checks;
}

export { OPERATOR_DOCS } from './docs';
export { parseEnvFile } from './secrets';
