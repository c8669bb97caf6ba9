import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAlertmanager, type AlertmanagerService } from '../bench/services';
import { sleep } from '../bench/process';
import { REAL_ALERTMANAGER, REAL_PROMETHEUS, ROOT, testAlertmanagerConfig } from './generate';
import { loadAlertRules } from '@ct/alerting';
import { composeServices } from './compose-layout';
import { groupPayload } from './payloads';

/** The real alertmanager.yml: validity, the route tree per tier, templates and inhibitions. */

const amtool = (args: string[]) => spawnSync('amtool', args, { cwd: ROOT, encoding: 'utf8' });

describe('alertmanager.yml and prometheus.yml', () => {
  it('pass amtool check-config and promtool check config', () => {
    const am = amtool(['check-config', REAL_ALERTMANAGER]);
    expect(am.stdout + am.stderr).toMatch(/SUCCESS[\s\S]*5 inhibit rules[\s\S]*5 receivers[\s\S]*1 templates\s+SUCCESS/);
    expect(am.status).toBe(0);
    const prom = spawnSync('promtool', ['check', 'config', REAL_PROMETHEUS], { cwd: ROOT, encoding: 'utf8' });
    expect(prom.stdout + prom.stderr).toContain('SUCCESS: 3 rule files found');
    expect(prom.status).toBe(0);
  });

  const routes: [string, string[], string][] = [
    ['call tier', ['tier=call', 'severity=critical', 'alertname=DatabaseUnreachable'], 'call'],
    ['text tier', ['tier=text', 'severity=high', 'alertname=N8nDown'], 'text'],
    ['email tier', ['tier=email', 'severity=medium', 'alertname=ChurnRisk', 'client=pizza'], 'email'],
    ['dashboard tier', ['tier=dashboard', 'severity=low', 'alertname=BackupSucceeded'], 'dashboard'],
    ['the heartbeat, although tier=call', ['alertname=Watchdog', 'tier=call', 'severity=critical'], 'deadmans-switch'],
    ['the tier decides, not the severity', ['tier=text', 'severity=critical', 'alertname=DiskSpaceLow'], 'text'],
    ['no tier label: mail, never lost', ['alertname=SomethingNew', 'severity=critical'], 'email'],
    ['an unknown tier: mail', ['tier=pager', 'alertname=X'], 'email'],
    ['matchers are case-sensitive: CALL is not call', ['tier=CALL', 'alertname=X'], 'email'],
    ['a client label does not change the tier', ['tier=call', 'client=pizza', 'alertname=WorkflowStuck'], 'call'],
  ];
  it.each(routes)('routes %s to its receiver (amtool config routes test --verify.receivers)', (_name, labels, receiver) => {
    const res = amtool(['config', 'routes', 'test', `--config.file=${REAL_ALERTMANAGER}`, `--verify.receivers=${receiver}`, ...labels]);
    expect({ out: res.stdout.trim(), status: res.status }).toEqual({ out: receiver, status: 0 });
  });

  it('fails the verification when the receiver is not the expected one', () => {
    const res = amtool(['config', 'routes', 'test', `--config.file=${REAL_ALERTMANAGER}`, '--verify.receivers=call', 'tier=text']);
    expect(res.status).toBe(1);
  });
});

describe('notification failures reach the operator through another integration', () => {
  const rules = loadAlertRules(path.join(ROOT, 'alerting', 'rules'));
  const config = parse(readFileSync(REAL_ALERTMANAGER, 'utf8')) as { receivers: Record<string, unknown>[] };
  const cases: [string, string][] = [
    ['AlertmanagerEmailFailing', 'email_configs'],
    ['AlertmanagerWebhookFailing', 'webhook_configs'],
    ['NotifierDeliveryFailing', 'webhook_configs'],
  ];
  it.each(cases)('%s routes to a receiver without %s', (alertname, failing) => {
    const rule = rules.find((r) => r.alert === alertname);
    expect(rule).toBeDefined();
    const labels = Object.entries({ alertname, ...rule!.labels }).map(([k, v]) => `${k}=${v}`);
    const res = amtool(['config', 'routes', 'test', `--config.file=${REAL_ALERTMANAGER}`, ...labels]);
    expect(res.status).toBe(0);
    const receiver = config.receivers.find((r) => r.name === res.stdout.trim());
    expect(receiver).toBeDefined();
    expect(Object.keys(receiver!)).not.toContain(failing);
  });

  it('prometheus.yml scrapes both Alertmanagers of docker-compose.yml and the notifier', () => {
    const prom = parse(readFileSync(REAL_PROMETHEUS, 'utf8')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = (job: string) => prom.scrape_configs.find((j) => j.job_name === job)?.static_configs.flatMap((c) => c.targets) ?? [];
    const services = Object.keys(composeServices());
    const alertmanagers = services.filter((name) => /^alertmanager/.test(name));
    expect(alertmanagers.length).toBeGreaterThanOrEqual(2);
    expect(targets('alertmanager').sort()).toEqual(alertmanagers.map((name) => `${name}:9093`).sort());
    expect(targets('ct_notifier')).toEqual(['notifier:9465']);
    expect(services).toContain('notifier');
  });
});

describe('email templates', () => {
  const render = (template: string, data: unknown) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ct-tmpl-'));
    try {
      writeFileSync(path.join(dir, 'data.json'), JSON.stringify(data));
      return execFileSync(
        'amtool',
        [
          'template',
          'render',
          '--template.glob=alerting/templates/*.tmpl',
          `--template.data=${path.join(dir, 'data.json')}`,
          `--template.text=${template}`,
        ],
        { cwd: ROOT, encoding: 'utf8' },
      ).trim();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const churn = groupPayload({
    tier: 'email',
    severity: 'medium',
    alertname: 'ChurnRisk',
    client: 'pizza',
    summaries: ['pizza at risk of churning'],
  });

  it('has a subject with status, count, severity, alert and client', () => {
    expect(render('{{ template "ct.email.subject" . }}', churn)).toBe('[FIRING:1] MEDIUM ChurnRisk (pizza)');
    expect(render('{{ template "ct.email.subject" . }}', { ...churn, status: 'resolved' })).toBe('[RESOLVED] MEDIUM ChurnRisk (pizza)');
  });

  it('has the summary, description, values, runbook and dashboard links', () => {
    const text = render('{{ template "ct.email.text" . }}', churn);
    expect(text).toContain('[FIRING] pizza at risk of churning');
    expect(text).toContain('pizza at risk of churning (details)');
    expect(text).toMatch(/Values: alertname=ChurnRisk client=pizza instance=host-0:9464 severity=medium tier=email/);
    expect(text).toContain('Runbook: https://ct-platform.example/docs/runbooks.md#x');
    expect(text).toContain('Dashboard: https://grafana.ct-platform.example/d/ct-client/ct-client?var-client=pizza');
    const html = render('{{ template "ct.email.html" . }}', churn);
    expect(html).toContain('<a href="https://ct-platform.example/docs/runbooks.md#x">Runbook</a>');
    expect(html).toContain('<a href="https://grafana.ct-platform.example/d/ct-client/ct-client?var-client=pizza">Dashboard</a>');
  });
});

/** An alert as a client of Alertmanager's API v2 posts it. */
const a = (labels: Record<string, string>) => ({
  labels,
  annotations: { summary: labels.alertname },
  startsAt: new Date().toISOString(),
});

async function postAlerts(am: AlertmanagerService, alerts: ReturnType<typeof a>[]): Promise<void> {
  const res = await fetch(`${am.url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(alerts),
  });
  expect(res.status).toBe(200);
}

/**
 * A real Alertmanager of its own for the enclosing describe, with the configuration generated from
 * alertmanager.yml (receivers pointed at a closed port: only inhibition is looked at).
 */
function generatedAlertmanager(prefix: string): () => AlertmanagerService {
  let dir: string;
  let am: AlertmanagerService | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), prefix));
    writeFileSync(path.join(dir, 'token'), 'unused-token');
    const config = testAlertmanagerConfig({
      notifierUrl: 'http://127.0.0.1:9',
      notifierTokenFile: path.join(dir, 'token'),
      heartbeatUrl: 'http://127.0.0.1:9',
      heartbeatKeyFile: path.join(dir, 'token'),
      smtp: { host: '127.0.0.1', port: 9 },
    });
    am = await startAlertmanager(dir, { config });
  });
  afterAll(async () => {
    await am?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return () => am!;
}

describe('inhibitions (a real Alertmanager with the generated configuration)', () => {
  const am = generatedAlertmanager('ct-inhibit-');

  it('silences lower tiers of the same alert and what platform, database and n8n outages explain', async () => {
    const disk = { instance: 'host:9100', mountpoint: '/' };
    const alerts = [
      a({ alertname: 'DiskSpaceLow', tier: 'call', severity: 'critical', ...disk }),
      a({ alertname: 'DiskSpaceLow', tier: 'text', severity: 'high', ...disk }),
      a({ alertname: 'DiskSpaceLow', tier: 'text', severity: 'high', instance: 'host:9100', mountpoint: '/var' }),
      a({ alertname: 'PlatformDown', tier: 'call', severity: 'critical', service: 'api', instance: 'https://api/healthz' }),
      a({ alertname: 'ApiSlow', tier: 'text', severity: 'high', service: 'api' }),
      a({ alertname: 'ScrapeTargetDown', tier: 'text', severity: 'high', job: 'ct_api', instance: 'api:8080' }),
      a({ alertname: 'ScrapeTargetDown', tier: 'text', severity: 'high', job: 'ct_exporters', instance: 'exporters:9464' }),
      a({ alertname: 'DatabaseUnreachable', tier: 'call', severity: 'critical', job: 'ct_exporters' }),
      a({ alertname: 'ExporterCollectorFailing', tier: 'email', severity: 'medium', collector: 'billing' }),
      a({ alertname: 'AuditChainInvalid', tier: 'call', severity: 'critical' }),
      a({ alertname: 'N8nDown', tier: 'text', severity: 'high' }),
      a({ alertname: 'WorkflowStuck', tier: 'text', severity: 'high', client: 'hvac', workflow: 'sync' }),
      a({ alertname: 'ChurnRisk', tier: 'email', severity: 'medium', client: 'hvac' }),
    ];
    await postAlerts(am(), alerts);
    const key = (l: Record<string, string>) => [l.alertname, l.severity, l.mountpoint ?? l.job ?? l.client ?? ''].join(' ');
    let state: Record<string, boolean> = {};
    // Inhibition is marked when the notification pipeline runs (after group_wait).
    for (let i = 0; i < 50; i++) {
      await sleep(200);
      const listed = (await (await fetch(`${am().url}/api/v2/alerts`)).json()) as {
        labels: Record<string, string>;
        status: { inhibitedBy: string[] };
      }[];
      state = Object.fromEntries(listed.map((x) => [key(x.labels), x.status.inhibitedBy.length > 0]));
      if (state['ExporterCollectorFailing medium '] && state['WorkflowStuck high hvac']) break;
    }
    expect(state).toEqual({
      'DiskSpaceLow critical /': false,
      'DiskSpaceLow high /': true, // the critical one of the same mount
      'DiskSpaceLow high /var': false,
      'PlatformDown critical ': false,
      'ApiSlow high ': true,
      'ScrapeTargetDown high ct_api': true,
      'ScrapeTargetDown high ct_exporters': false,
      'DatabaseUnreachable critical ct_exporters': false,
      'ExporterCollectorFailing medium ': true,
      'AuditChainInvalid critical ': false, // never hidden
      'N8nDown high ': false,
      'WorkflowStuck high hvac': true,
      'ChurnRisk medium hvac': false,
    });
  });
});

describe('the PlatformDown inhibition is scoped to the service that is down', () => {
  const am = generatedAlertmanager('ct-inhibit-scope-');

  it('Grafana down (texted) hides none of the API alerts', async () => {
    const alerts = [
      a({ alertname: 'PlatformDown', tier: 'text', severity: 'high', service: 'grafana', instance: 'https://grafana/api/health' }),
      a({ alertname: 'ApiSlow', tier: 'text', severity: 'high', service: 'api' }),
      a({ alertname: 'ApiErrorRateHigh', tier: 'text', severity: 'high', service: 'api' }),
    ];
    await postAlerts(am(), alerts);
    type Listed = { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } };
    let listed: Listed[] = [];
    // inhibition is decided when the groups flush (group_wait 1 s in this configuration)
    for (let i = 0; i < 15; i++) {
      await sleep(200);
      listed = (await (await fetch(`${am().url}/api/v2/alerts`)).json()) as Listed[];
    }
    expect(Object.fromEntries(listed.map((x) => [x.labels.alertname, x.status.state]))).toEqual({
      PlatformDown: 'active',
      ApiSlow: 'active',
      ApiErrorRateHigh: 'active',
    });
    // and the API down does hide them, on the same Alertmanager
    await postAlerts(am(), [
      a({ alertname: 'PlatformDown', tier: 'call', severity: 'critical', service: 'api', instance: 'https://api/healthz' }),
    ]);
    for (let i = 0; i < 50; i++) {
      await sleep(200);
      listed = (await (await fetch(`${am().url}/api/v2/alerts`)).json()) as Listed[];
      if (listed.filter((x) => x.status.state === 'suppressed').length === 2) break;
    }
    expect(
      listed
        .filter((x) => x.status.state === 'suppressed')
        .map((x) => x.labels.alertname)
        .sort(),
    ).toEqual(['ApiErrorRateHigh', 'ApiSlow']);
  }, 30_000);
});

describe('docs/alerting.md', () => {
  it.each(['pagerduty', 'opsgenie'])('has a valid %s receiver to replace the call tier', (name) => {
    const doc = readFileSync(path.join(ROOT, 'docs', 'alerting.md'), 'utf8');
    const m = new RegExp(`<!-- receiver: ${name} -->\\n\`\`\`yaml\\n([\\s\\S]*?)\`\`\``).exec(doc);
    expect(m).not.toBeNull();
    const config = parse(readFileSync(REAL_ALERTMANAGER, 'utf8')) as { receivers: { name: string }[]; templates: string[] };
    const [receiver] = parse(m![1]!) as { name: string }[];
    config.receivers = config.receivers.map((r) => (r.name === 'call' ? receiver! : r));
    config.templates = config.templates.map((t) => path.join(ROOT, t));
    const dir = mkdtempSync(path.join(tmpdir(), 'ct-docs-'));
    try {
      writeFileSync(path.join(dir, 'alertmanager.yml'), stringify(config));
      const res = amtool(['check-config', path.join(dir, 'alertmanager.yml')]);
      expect(res.stdout + res.stderr).toContain('SUCCESS');
      expect(res.status).toBe(0);
      const routed = amtool([
        'config',
        'routes',
        'test',
        `--config.file=${path.join(dir, 'alertmanager.yml')}`,
        '--verify.receivers=call',
        'tier=call',
      ]);
      expect(routed.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
