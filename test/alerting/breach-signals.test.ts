import { writeAudit } from '@ct/lib';
import { createExporter, loadExporterConfig } from '@ct/exporters';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { parseMetrics, valueOf } from '../helpers/metrics';
import { emptyN8n } from '../exporters/fixtures';

/**
 * The metric behind AdminActionFromUnknownAddress: audit rows of admin actors (users, API keys,
 * Grafana) whose source address is outside ALERT_ADMIN_ALLOWLIST, counted by the exporter from the
 * real audit log.
 */

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'breach' });
});
afterAll(() => db.drop());

const METRIC = 'ct_audit_admin_actions_outside_allowlist';

it('counts admin actions from outside the allowlist, and nothing without one', async () => {
  const audit = (actorType: 'user' | 'api_key' | 'system' | 'grafana', sourceIp: string | null) =>
    writeAudit(db.pool, { actor: 'ops', actorType, action: 'client.update', outcome: 'success', sourceIp });
  await audit('user', '10.0.0.7'); // inside 10.0.0.0/8
  await audit('api_key', '203.0.113.9'); // the one listed address
  await audit('grafana', '2001:db8::5'); // inside 2001:db8::/32
  await audit('user', '198.51.100.23'); // outside
  await audit('api_key', '2001:dc8::1'); // outside
  await audit('system', '198.51.100.24'); // not an admin actor
  await audit('user', null); // no address (a CLI action)

  const allowlist = loadExporterConfig({
    DATABASE_URL: 'postgres://unused@127.0.0.1/x',
    N8N_URL: 'http://127.0.0.1:9',
    N8N_API_KEY: 'unused',
    ALERT_ADMIN_ALLOWLIST: '10.0.0.0/8, 203.0.113.9,2001:db8::/32',
  }).ALERT_ADMIN_ALLOWLIST;
  expect(allowlist).toEqual(['10.0.0.0/8', '203.0.113.9', '2001:db8::/32']);
  const exporter = createExporter({ pool: db.appPool, n8n: emptyN8n, adminAllowlist: allowlist });
  expect(valueOf(parseMetrics(await exporter.scrape()), METRIC)).toBe(2);
  await writeAudit(db.pool, { actor: 'ops', actorType: 'user', action: 'backup.run', outcome: 'success', sourceIp: '192.0.2.1' });
  expect(valueOf(parseMetrics(await exporter.scrape()), METRIC)).toBe(3);

  const without = createExporter({ pool: db.appPool, n8n: emptyN8n });
  expect(parseMetrics(await without.scrape()).some((s) => s.name === METRIC)).toBe(false);
});

it('refuses an allowlist entry that is not an address or a range, naming it', () => {
  expect(() =>
    loadExporterConfig({
      DATABASE_URL: 'postgres://unused@127.0.0.1/x',
      N8N_URL: 'http://127.0.0.1:9',
      N8N_API_KEY: 'unused',
      ALERT_ADMIN_ALLOWLIST: '10.0.0.0/8,office',
    }),
  ).toThrow(/ALERT_ADMIN_ALLOWLIST: "office" is not an IP address or CIDR range/);
});
