import { readFileSync } from 'node:fs';
import { apiCall, choose, createClient, expect, pick, sql, test, uniq } from '../fixtures';

/** A datetime-local value for a Date (the browser runs in UTC here). */
const local = (d: Date) => d.toISOString().slice(0, 16);

test('Export metrics: the downloaded CSV has the rows Prometheus has for the same range and step', async ({
  page,
  app,
}) => {
  const c = await createClient(uniq('export'), 'Export HVAC');
  const plan = uniq('plan');
  expect(
    (
      await apiCall('POST', '/api/billing/plans', {
        code: plan,
        name: 'Growth',
        monthlyAmountCents: 12_900,
        currency: 'USD',
      })
    ).status
  ).toBe(201);
  expect((await apiCall('POST', '/api/billing/subscriptions', { client: c.slug, plan })).status).toBe(201);

  // Wait until the exporters' value has been scraped by the suite's Prometheus.
  const prom = process.env.CT_E2E_PROMETHEUS_URL!;
  await expect
    .poll(
      async () => {
        const r = await (
          await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(`ct_client_mrr{client="${c.slug}"}`)}`)
        ).json();
        return r.data?.result?.[0]?.value?.[1];
      },
      { timeout: 60_000 }
    )
    .toBe('129');

  const now = new Date();
  await app.goto('/a/ct-admin-app/actions/export');
  await pick(page, 'export-name', 'client_mrr');
  await page.getByTestId('data-testid export-from').fill(local(new Date(now.getTime() - 2 * 60_000)));
  await page.getByTestId('data-testid export-to').fill(local(new Date(now.getTime() + 8 * 60_000)));
  await choose(page, '5 min');
  await app.shot('export-metrics');
  const href = await page.getByTestId('data-testid export-csv').getAttribute('href');
  const q = new URL(href!, 'http://x').searchParams;
  expect(q.get('step')).toBe('5m');

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('data-testid export-csv').click(),
  ]);
  expect(download.suggestedFilename()).toBe('client_mrr.csv');
  const csv = readFileSync((await download.path())!, 'utf8')
    .trim()
    .split('\n');
  expect(csv[0]).toBe('timestamp,client,currency,value');

  // The same query, range and step asked of Prometheus directly.
  const range = new URLSearchParams({
    query: 'sum by (client, currency) (ct_client_mrr)',
    start: String(Math.floor(Date.parse(q.get('from')!) / 1000)),
    end: String(Math.floor(Date.parse(q.get('to')!) / 1000)),
    step: '300',
  });
  const r = await (await fetch(`${prom}/api/v1/query_range`, { method: 'POST', body: range })).json();
  const expected: string[] = [];
  for (const s of r.data.result as Array<{ metric: Record<string, string>; values: Array<[number, string]> }>) {
    for (const [t, v] of s.values) {
      expected.push(`${new Date(t * 1000).toISOString()},${s.metric.client},${s.metric.currency},${v}`);
    }
  }
  const mine = (rows: string[]) => rows.filter((l) => l.includes(`,${c.slug},`)).sort();
  expect(mine(expected).length).toBeGreaterThan(0);
  expect(mine(csv.slice(1))).toEqual(mine(expected));
  expect(mine(csv.slice(1)).every((l) => l.endsWith(',USD,129'))).toBe(true);

  const audit = await sql(
    `SELECT actor, outcome, details->>'rows' AS rows FROM audit_logs WHERE action = 'metrics.export' ORDER BY id DESC LIMIT 1`
  );
  expect(audit).toEqual([{ actor: 'grafana:admin', outcome: 'success', rows: String(csv.length - 1) }]);
});
