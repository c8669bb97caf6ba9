import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createExporter } from '@ct/exporters';
import { verifyAuditChain } from '@ct/lib';
import { startAlertmanager, type AlertmanagerService } from '../bench/services';
import { runCt } from '../helpers/cli';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { parseMetrics, valueOf } from '../helpers/metrics';
import { emptyN8n } from '../exporters/fixtures';

/**
 * ct maintenance start/end against two real Alertmanagers and a real database: the silences in
 * both (breach signals exempt), the audit rows, ct_maintenance_active from the exporter.
 */

let dir: string;
let db: TestDatabase;
const ams: AlertmanagerService[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ct-maintenance-'));
  db = await createTestDatabase({ prefix: 'maintenance' });
  ams.push(await startAlertmanager(dir, { name: 'am1' }), await startAlertmanager(dir, { name: 'am2' }));
}, 60_000);
afterAll(async () => {
  for (const am of ams) await am.stop();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

type Silence = {
  id: string;
  status: { state: string };
  matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
  comment: string;
};
const silences = async (am: AlertmanagerService) => (await (await fetch(`${am.url}/api/v2/silences`)).json()) as Silence[];
const ct = (args: string[]) =>
  runCt(['maintenance', ...args], {
    env: { ...process.env, DATABASE_URL: db.url, ALERTMANAGER_URLS: ams.map((a) => a.url).join(','), LOG_LEVEL: 'silent' },
  });
const active = async () =>
  valueOf(parseMetrics(await createExporter({ pool: db.appPool, n8n: emptyN8n }).scrape()), 'ct_maintenance_active');

it('silences the agreed tiers in both Alertmanagers, audited, and ends', async () => {
  expect(await active()).toBe(0);
  const started = await ct(['start', '--for', '1h', '--reason', 'upgrade PostgreSQL', '--actor', 'ops']);
  expect(started.stderr).toBe('');
  expect(started.code).toBe(0);
  expect(started.stdout).toMatch(/^maintenance until .*: call, text, email silenced in 2 Alertmanager\(s\)/);
  for (const am of ams) {
    const [s] = (await silences(am)).filter((x) => x.status.state === 'active');
    expect(s).toMatchObject({ comment: 'maintenance: upgrade PostgreSQL' });
    expect(s!.matchers).toEqual(
      expect.arrayContaining([
        { name: 'tier', value: 'call|text|email', isRegex: true, isEqual: true },
        {
          name: 'alertname',
          value: 'AuditChainInvalid|AdminActionFromUnknownAddress|TenantIsolationProbe|Watchdog',
          isRegex: true,
          isEqual: false,
        },
      ]),
    );
  }
  // what it silences, and what it does not
  const a = (labels: Record<string, string>) => ({ labels, startsAt: new Date().toISOString() });
  await fetch(`${ams[0]!.url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify([
      a({ alertname: 'PlatformDown', tier: 'call', service: 'api' }),
      a({ alertname: 'AuditChainInvalid', tier: 'call' }),
      a({ alertname: 'MaintenanceActive', tier: 'dashboard' }),
    ]),
  });
  await new Promise((r) => setTimeout(r, 500));
  const listed = (await (await fetch(`${ams[0]!.url}/api/v2/alerts`)).json()) as {
    labels: { alertname: string };
    status: { state: string };
  }[];
  expect(Object.fromEntries(listed.map((x) => [x.labels.alertname, x.status.state]))).toEqual({
    PlatformDown: 'suppressed',
    AuditChainInvalid: 'active',
    MaintenanceActive: 'active',
  });
  expect(await active()).toBe(1);
  const { rows } = await db.pool.query<{ action: string; actor: string; details: { reason: string; silences: unknown[] } }>(
    "SELECT action, actor, details FROM audit_logs WHERE action LIKE 'maintenance.%' ORDER BY id",
  );
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ action: 'maintenance.start', actor: 'ops', details: { reason: 'upgrade PostgreSQL' } });
  expect(rows[0]!.details.silences).toHaveLength(2);

  // a second window while one is open is refused, naming why
  const again = await ct(['start', '--for', '30m', '--reason', 'again']);
  expect(again.code).not.toBe(0);
  expect(again.stderr).toMatch(/already open/);

  const ended = await ct(['end', '--actor', 'ops']);
  expect(ended.code).toBe(0);
  for (const am of ams) expect((await silences(am)).every((s) => s.status.state === 'expired')).toBe(true);
  expect(await active()).toBe(0);
  const actions = (await db.pool.query<{ action: string }>("SELECT action FROM audit_logs WHERE action LIKE 'maintenance.%' ORDER BY id"))
    .rows;
  expect(actions.map((r) => r.action)).toEqual(['maintenance.start', 'maintenance.end']);
  expect((await verifyAuditChain(db.pool)).ok).toBe(true);
}, 60_000);

it('refuses bad input naming the option, and opens nothing when an Alertmanager is unreachable', async () => {
  expect((await ct(['start', '--for', 'soon', '--reason', 'x y z'])).stderr).toMatch(/--for: "soon" must be a duration/);
  expect((await ct(['start', '--for', '1h', '--reason', 'upgrade', '--tiers', 'pager'])).stderr).toMatch(/--tiers: unknown tier pager/);
  const down = await runCt(['maintenance', 'start', '--for', '1h', '--reason', 'upgrade'], {
    env: { ...process.env, DATABASE_URL: db.url, ALERTMANAGER_URLS: `${ams[0]!.url},http://127.0.0.1:9`, LOG_LEVEL: 'silent' },
  });
  expect(down.code).not.toBe(0);
  expect(down.stderr).toMatch(/cannot reach Alertmanager at http:\/\/127.0.0.1:9/);
  // the silence made in the first one was expired again: all or nothing
  expect((await silences(ams[0]!)).filter((s) => s.status.state === 'active')).toHaveLength(0);
  expect(await active()).toBe(0);
}, 60_000);
