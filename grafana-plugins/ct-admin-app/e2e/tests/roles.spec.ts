import pluginJson from '../../src/plugin.json';
import { createClient, expect, grafanaUrl, sql, test, uniq } from '../fixtures';

/** Every route of plugin.json with a sample path, as the browser would ask for it. */
const sampleCalls = (slug: string) => [
  { method: 'GET', path: 'api/auth/me', role: 'Editor' },
  { method: 'GET', path: 'api/admin/status', role: 'Editor' },
  { method: 'GET', path: 'api/admin/audit', role: 'Admin' },
  { method: 'GET', path: 'api/admin/exports', role: 'Admin' },
  { method: 'POST', path: 'api/admin/executions/restart-stuck', role: 'Admin', body: { dryRun: true } },
  { method: 'POST', path: `api/admin/clients/${slug}/rotate-secret`, role: 'Admin', body: {} },
  { method: 'POST', path: 'api/admin/backups', role: 'Admin' },
  { method: 'POST', path: 'api/admin/audit/verify', role: 'Admin' },
  { method: 'GET', path: 'api/clients', role: 'Editor' },
  { method: 'GET', path: `api/clients/${slug}`, role: 'Editor' },
  { method: 'POST', path: `api/clients/${slug}/pause`, role: 'Admin' },
  { method: 'GET', path: 'api/automations', role: 'Editor' },
  { method: 'GET', path: `api/automations/workflows?client=${slug}`, role: 'Editor' },
  { method: 'GET', path: 'api/metrics/usage?from=2026-01-01&to=2026-01-31', role: 'Editor' },
  { method: 'GET', path: 'api/billing/invoices', role: 'Editor' },
];

test.describe('as a Viewer', () => {
  test.use({ login: 'viewer' });

  test("every route of plugin.json answers the proxy's 403, and the buttons say so", async ({ page, app }) => {
    const c = await createClient(uniq('roles'), 'Roles Roofing');
    const before = (await sql(`SELECT count(*)::int AS n FROM audit_logs`))[0].n;
    await app.goto('/a/ct-admin-app/overview');
    await expect(page.getByTestId('data-testid api-error')).toHaveAttribute('data-kind', 'forbidden');
    await expect(page.getByText(/Not allowed \(403\)/)).toBeVisible();
    await app.shot('viewer-overview-403');

    const calls = sampleCalls(c.slug);
    // Each route of plugin.json is exercised by at least one sample call.
    expect(new Set(calls.map((x) => `${x.method} ${x.path.split('?')[0]}`)).size).toBeGreaterThanOrEqual(
      pluginJson.routes.length
    );
    for (const call of calls) {
      const res = await page.request.fetch(grafanaUrl(`/api/plugin-proxy/ct-admin-app/${call.path}`), {
        method: call.method,
        data: call.body,
      });
      expect(res.status(), `${call.method} ${call.path}`).toBe(403);
      expect(await res.json()).toEqual({ message: 'plugin proxy route access denied' });
    }

    await app.goto('/a/ct-admin-app/actions/restart-stuck');
    await page.getByRole('button', { name: 'List stuck executions' }).click();
    await expect(page.getByTestId('data-testid api-error').last()).toContainText('every action the Admin role');
    await app.goto('/a/ct-admin-app/actions/backup');
    await page.getByTestId('data-testid backup-start').click();
    await page.getByRole('button', { name: 'Start backup' }).click();
    await expect(page.getByText(/Force a backup: Not allowed \(403\)/)).toBeVisible();
    await app.goto('/a/ct-admin-app/actions/audit');
    await page.getByTestId('data-testid audit-verify').click();
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expect(page.getByText(/Verify chain: Not allowed \(403\)/)).toBeVisible();
    await app.goto(`/a/ct-admin-app/clients/${c.slug}`);
    await expect(page.getByText(/Loading client .*: Not allowed \(403\)/)).toBeVisible();

    // Nothing reached the API: no row was written.
    expect((await sql(`SELECT count(*)::int AS n FROM audit_logs`))[0].n).toBe(before);
  });
});

test.describe('as an Editor', () => {
  test.use({ login: 'editor' });

  test('reads the Overview and clients, but every action is refused', async ({ page, app }) => {
    const c = await createClient(uniq('editor'), 'Editor Electric');
    await app.goto('/a/ct-admin-app/overview');
    await expect(page.getByTestId('data-testid tile-database')).toHaveAttribute('data-status', 'ok');
    await app.goto('/a/ct-admin-app/clients');
    await expect(page.getByTestId(`data-testid client-row-${c.slug}`)).toBeVisible();
    for (const call of sampleCalls(c.slug)) {
      const res = await page.request.fetch(grafanaUrl(`/api/plugin-proxy/ct-admin-app/${call.path}`), {
        method: call.method,
        data: call.body,
      });
      expect(res.status(), `${call.method} ${call.path}`).toBe(call.role === 'Editor' ? 200 : 403);
    }
    await app.goto(`/a/ct-admin-app/clients/${c.slug}`);
    await page.getByTestId('data-testid client-pause').click();
    await page.getByRole('button', { name: 'Pause client' }).click();
    await expect(page.getByText(/Changing the client's status: Not allowed \(403\)/)).toBeVisible();
    expect((await sql(`SELECT status FROM clients WHERE id = $1`, [c.id]))[0].status).toBe('active');
  });
});
