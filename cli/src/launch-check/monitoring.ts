import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { originOf, request } from './http';
import { fail, Findings, pass, type Outcome } from './types';

/** Monitoring active: Prometheus, its rules, the two Alertmanagers, the notifier, a test alert. */

/** Every rule group the project defines (alerting/rules/*.yml), by name. */
export function projectRuleGroups(rulesDir: string): string[] {
  const names: string[] = [];
  for (const file of readdirSync(rulesDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const doc = parse(readFileSync(path.join(rulesDir, file), 'utf8')) as { groups?: { name: string }[] } | null;
    for (const g of doc?.groups ?? []) names.push(g.name);
  }
  return names;
}

interface Target {
  health: 'up' | 'down' | 'unknown';
  scrapePool: string;
  scrapeUrl: string;
  lastError: string;
  lastScrape: string;
  scrapeInterval?: string;
}

const seconds = (d: string | undefined) => {
  const m = /^(\d+)(ms|s|m|h)$/.exec(d ?? '');
  return m ? Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'] : 60;
};

async function activeTargets(prometheusUrl: string): Promise<Target[] | string> {
  const res = await request(`${prometheusUrl}/api/v1/targets?state=active`);
  if (!res.ok || res.status !== 200) return res.ok ? `HTTP ${res.status}` : res.error;
  return ((res.json as { data?: { activeTargets?: Target[] } }).data?.activeTargets ?? []) as Target[];
}

/**
 * Every active target up. A target whose last scrape failed is read again after its next scrape
 * (at most a minute later): one slow scrape is not an outage, two in a row are reported.
 */
export async function checkPrometheusTargets(prometheusUrl: string, opts: { pollMs?: number } = {}): Promise<Outcome> {
  const unreachable = (why: string) =>
    fail(
      `Prometheus at ${originOf(prometheusUrl)} does not answer (${why})`,
      'start Prometheus (docker compose up -d prometheus) and check PROMETHEUS_URL',
    );
  let targets = await activeTargets(prometheusUrl);
  if (typeof targets === 'string') return unreachable(targets);
  if (targets.length === 0) {
    return fail('Prometheus scrapes no target', "load the project's prometheus.yml (scrape_configs) and reload Prometheus");
  }
  const key = (t: Target) => `${t.scrapePool} ${t.scrapeUrl}`;
  const firstDown = new Map(targets.filter((t) => t.health !== 'up').map((t) => [key(t), t.lastScrape]));
  if (firstDown.size > 0) {
    const wait = Math.min(60, Math.max(...targets.filter((t) => firstDown.has(key(t))).map((t) => seconds(t.scrapeInterval))) + 5);
    const deadline = Date.now() + wait * 1000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
      const again = await activeTargets(prometheusUrl);
      if (typeof again === 'string') return unreachable(again);
      targets = again;
      if (targets.every((t) => !firstDown.has(key(t)) || t.lastScrape !== firstDown.get(key(t)))) break;
    }
  }
  const notUp = targets.filter((t) => t.health !== 'up');
  if (notUp.length > 0) {
    return fail(
      `${notUp.length} of ${targets.length} targets not up`,
      'start the services named above (docker compose ps; docker compose logs <service>) or correct their address in prometheus.yml',
      notUp.map((t) => `${key(t)}: ${t.health}${t.lastError ? ` (${t.lastError})` : ''}`),
    );
  }
  return pass(`all ${targets.length} targets up`);
}

interface RuleGroup {
  name: string;
  file: string;
  rules: { name: string; health?: string; lastError?: string }[];
}

export async function checkPrometheusRules(prometheusUrl: string, expectedGroups: string[]): Promise<Outcome> {
  const res = await request(`${prometheusUrl}/api/v1/rules`);
  if (!res.ok || res.status !== 200) {
    return fail(
      `Prometheus at ${originOf(prometheusUrl)} does not answer (${res.ok ? `HTTP ${res.status}` : res.error})`,
      'start Prometheus and check PROMETHEUS_URL',
    );
  }
  const groups = ((res.json as { data?: { groups?: RuleGroup[] } }).data?.groups ?? []) as RuleGroup[];
  const loaded = new Set(groups.map((g) => g.name));
  const missing = expectedGroups.filter((g) => !loaded.has(g));
  const broken = groups.flatMap((g) =>
    g.rules.filter((r) => r.health === 'err').map((r) => `${g.name}/${r.name}: ${r.lastError ?? 'error'}`),
  );
  if (missing.length > 0) {
    return fail(
      `${missing.length} of the project's ${expectedGroups.length} rule groups not loaded: ${missing.join(', ')}`,
      "mount alerting/rules where prometheus.yml's rule_files points, then reload Prometheus (POST /-/reload or restart it); promtool check config prometheus.yml names the problem",
    );
  }
  if (broken.length > 0) {
    return fail(
      `${broken.length} rule(s) fail to evaluate`,
      'correct the expressions (promtool test rules alerting/tests/*.yml) or the metrics they read',
      broken,
    );
  }
  return pass(`all ${expectedGroups.length} rule groups loaded (${expectedGroups.join(', ')})`);
}

interface AlertmanagerStatus {
  cluster?: { name?: string; status?: string; peers?: { name: string; address: string }[] };
}

/** Both (every) Alertmanagers up, their cluster `ready`, each listing every other one among its peers. */
export async function checkAlertmanagerCluster(urls: string[]): Promise<Outcome> {
  const f = new Findings();
  const statuses = await Promise.all(urls.map(async (url) => ({ url, res: await request(`${url}/api/v2/status`) })));
  const up: { url: string; name: string; status: string; peers: string[] }[] = [];
  for (const { url, res } of statuses) {
    if (!res.ok || res.status !== 200) {
      f.add(
        `${originOf(url)} is down (${res.ok ? `HTTP ${res.status}` : res.error})`,
        'start the stopped Alertmanager (docker compose up -d <alertmanager service>; docker compose logs it)',
      );
      continue;
    }
    const c = (res.json as AlertmanagerStatus).cluster ?? {};
    up.push({ url, name: c.name ?? '', status: c.status ?? 'unknown', peers: (c.peers ?? []).map((p) => p.name) });
  }
  for (const am of up) {
    if (am.status !== 'ready') {
      f.add(
        `${originOf(am.url)}: cluster status ${am.status}`,
        am.status === 'disabled'
          ? 'start each Alertmanager with --cluster.listen-address=0.0.0.0:9094 and --cluster.peer=<the other one>:9094'
          : 'wait for the cluster to settle (a minute after a start), then check that port 9094 is open between the Alertmanagers',
      );
    }
    for (const other of up) {
      if (other === am || !other.name) continue;
      if (!am.peers.includes(other.name)) {
        f.add(
          `${originOf(am.url)} does not list ${originOf(other.url)} among its peers`,
          'give each Alertmanager --cluster.peer=<the other one>:9094 and check that port 9094 is open between them',
        );
      }
    }
  }
  if (urls.length < 2) {
    f.add(
      `ALERTMANAGER_URLS names ${urls.length} Alertmanager(s); the platform runs two, clustered`,
      'list both Alertmanagers in ALERTMANAGER_URLS, comma-separated',
    );
  }
  return f.outcome(`${up.length} Alertmanagers up and clustered (${up.map((a) => originOf(a.url)).join(', ')})`);
}

export async function checkNotifier(notifierUrl: string): Promise<Outcome> {
  const res = await request(`${notifierUrl}/healthz`);
  if (!res.ok || res.status !== 200) {
    return fail(
      `the notifier at ${originOf(notifierUrl)} does not answer /healthz (${res.ok ? `HTTP ${res.status}` : res.error})`,
      'start it (docker compose up -d notifier, or ct serve notifier) and check NOTIFIER_URL; without it no call or text goes out',
    );
  }
  return pass(`the notifier answers at ${originOf(notifierUrl)}`);
}

/** The name of the test alert; alertmanager.yml routes it to the email receiver at once. */
export const TEST_ALERT_NAME = 'LaunchCheckTest';

/**
 * Notification requests of one integration summed over the Alertmanagers (their /metrics): each
 * attempt counts in alertmanager_notification_requests_total, each failed one also in
 * alertmanager_notification_requests_failed_total, at once (the per-notification counters wait
 * for the retries to give up).
 */
async function notificationCounts(urls: string[], integration: string): Promise<{ total: number; failed: number; unread: string[] }> {
  let total = 0;
  let failed = 0;
  const unread: string[] = [];
  for (const url of urls) {
    const res = await request(`${url}/metrics`);
    if (!res.ok || res.status !== 200) {
      unread.push(originOf(url));
      continue;
    }
    for (const line of res.text.split('\n')) {
      const m = /^alertmanager_notification_requests(_failed)?_total\{([^}]*)\} (\S+)$/.exec(line);
      if (!m || !m[2]!.split(',').includes(`integration="${integration}"`)) continue;
      if (m[1]) failed += Number(m[3]);
      else total += Number(m[3]);
    }
  }
  return { total, failed, unread };
}

export interface TestAlertOptions {
  alertmanagers: string[];
  /** How long to wait for the delivery. */
  timeoutMs: number;
  pollMs?: number;
}

/**
 * --send-test: posts one alert to every Alertmanager (as Prometheus does) that alertmanager.yml
 * routes to the email receiver without waiting, then watches the Alertmanagers' own counters.
 * "Delivered" means: an Alertmanager of the cluster made one more email request than it counted
 * failed (alertmanager_notification_requests_total minus _failed_total, integration="email"),
 * i.e. the mail server accepted the message.
 * Whether it reached the inbox is for the operator to see: its subject names the test's id.
 * The alert is resolved at the end either way.
 */
export async function sendTestAlert(opts: TestAlertOptions): Promise<Outcome> {
  const id = randomBytes(4).toString('hex');
  const before = await notificationCounts(opts.alertmanagers, 'email');
  const startsAt = new Date();
  const alert = (endsAt: Date) => [
    {
      labels: { alertname: TEST_ALERT_NAME, tier: 'email', severity: 'low', launch_check: id },
      annotations: {
        summary: `ct launch-check test alert ${id}: the alerting pipeline delivers mail`,
        description: 'Sent by ct launch-check --send-test. Nothing to do; it resolves by itself.',
        runbook_url: 'docs/launch-check.md',
      },
      startsAt: startsAt.toISOString(),
      endsAt: endsAt.toISOString(),
    },
  ];
  const post = (endsAt: Date) =>
    Promise.all(
      opts.alertmanagers.map(async (url) => ({
        url,
        res: await request(`${url}/api/v2/alerts`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(alert(endsAt)),
        }),
      })),
    );
  const posted = await post(new Date(Date.now() + 10 * 60_000));
  const accepted = posted.filter((p) => p.res.ok && p.res.status === 200);
  if (accepted.length === 0) {
    return fail(
      'no Alertmanager accepted the test alert',
      'start the Alertmanagers and check ALERTMANAGER_URLS',
      posted.map((p) => `${originOf(p.url)}: ${p.res.ok ? `HTTP ${p.res.status}` : p.res.error}`),
    );
  }
  const smtpFix =
    "read the Alertmanager log (docker compose logs alertmanager-1) for the SMTP error, then correct smtp_smarthost / smtp_auth_* in alertmanager.yml or the mail server's credentials";
  try {
    const deadline = Date.now() + opts.timeoutMs;
    let now = before;
    let failed = 0;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
      now = await notificationCounts(opts.alertmanagers, 'email');
      failed = now.failed - before.failed;
      if (now.total - before.total - failed > 0) {
        const seconds = ((Date.now() - startsAt.getTime()) / 1000).toFixed(1);
        return pass(
          `test alert ${id} delivered: the mail server accepted its email in ${seconds} s (subject names ${TEST_ALERT_NAME}; look for ${id} in the on-call inbox)`,
        );
      }
      // Alertmanager retries with a growing backoff: three failures in a row are enough to say so.
      if (failed >= 3) break;
    }
    if (failed > 0) return fail(`test alert ${id} undelivered: ${failed} email attempt(s) failed, none succeeded`, smtpFix);
    return fail(
      `test alert ${id} undelivered: no email attempt within ${opts.timeoutMs / 1000} s`,
      `check that alertmanager.yml has the ${TEST_ALERT_NAME} route (amtool config routes test alertname=${TEST_ALERT_NAME} tier=email) and that no silence or maintenance window covers the email tier`,
      now.unread.length ? [`metrics unreadable at ${now.unread.join(', ')}`] : undefined,
    );
  } finally {
    await post(new Date()).catch(() => undefined);
  }
}
