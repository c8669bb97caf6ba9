import { randomBytes } from 'node:crypto';
import { apiCall, choose, createClient, expect, sql, test, uniq } from '../fixtures';

test('Clients: the list and a client page with its automations, invoices and usage; pause and resume with confirmation', async ({
  page,
  app,
}) => {
  const c = await createClient(uniq('pizza'), 'Tony Pizza');
  const quiet = await createClient(uniq('plumb'), 'Quiet Plumbing');
  const plan = uniq('plan');
  expect(
    (
      await apiCall('POST', '/api/billing/plans', {
        code: plan,
        name: 'Growth',
        monthlyAmountCents: 19_900,
        currency: 'USD',
      })
    ).status
  ).toBe(201);
  expect((await apiCall('POST', '/api/billing/subscriptions', { client: c.slug, plan })).status).toBe(201);
  const due = new Date(Date.now() - 5 * 86400_000).toISOString();
  const issued = new Date(Date.now() - 35 * 86400_000).toISOString();
  const inv = await apiCall('POST', '/api/billing/invoices', {
    client: c.slug,
    number: `INV-${randomBytes(3).toString('hex')}`,
    amountCents: 19_900,
    status: 'open',
    issuedAt: issued,
    dueAt: due,
  });
  expect(inv.status, inv.text).toBe(201);
  const wf = await fetch(`${process.env.N8N_URL}/api/v1/workflows`, {
    method: 'POST',
    headers: { 'X-N8N-API-KEY': process.env.N8N_API_KEY!, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: `browser-suite orders ${c.slug}`,
      nodes: [
        {
          id: 'm',
          name: 'Start',
          type: 'n8n-nodes-base.manualTrigger',
          typeVersion: 1,
          position: [0, 0],
          parameters: {},
        },
      ],
      connections: {},
      settings: {},
    }),
  }).then((r) => r.json());
  try {
    expect(
      (
        await apiCall('POST', '/api/automations', {
          client: c.slug,
          n8nWorkflowId: wf.id,
          name: 'Order intake',
          minutesSavedPerRun: 6,
          hourlyValueCents: 3000,
        })
      ).status
    ).toBe(201);
    await sql(
      `INSERT INTO client_daily_stats (client_id, day, workflow_runs, failures, minutes_saved) VALUES ($1, current_date, 120, 6, 720)`,
      [c.id]
    );

    await app.goto('/a/ct-admin-app/clients');
    const row = page.getByTestId(`data-testid client-row-${c.slug}`);
    await expect(row).toContainText('$199.00');
    await expect(row).toContainText('1 (1)');
    await expect(row).toContainText('6 of 120');
    await expect(row).toContainText('1 overdue');
    await app.shot('clients');
    await page.getByTestId('data-testid clients-search').fill('quiet');
    await expect(page.getByTestId(`data-testid client-row-${quiet.slug}`)).toBeVisible();
    await expect(row).toHaveCount(0);
    await page.getByTestId('data-testid clients-search').fill('');
    await choose(page, 'Needs attention');
    await expect(row).toBeVisible();
    await expect(page.getByTestId(`data-testid client-row-${quiet.slug}`)).toHaveCount(0);

    await row.getByRole('link', { name: 'Tony Pizza' }).click();
    await expect(page).toHaveURL(new RegExp(`/a/ct-admin-app/clients/${c.slug}$`));
    await expect(page.getByTestId('data-testid client-automations')).toContainText('Order intake');
    await expect(page.getByTestId('data-testid client-automations')).toContainText('inactive');
    await expect(page.getByTestId('data-testid client-invoices')).toContainText('overdue');
    await expect(page.getByTestId('data-testid client-usage')).toContainText('120');
    await expect(page.getByTestId('data-testid client-usage')).toContainText('5%');
    await expect(page.getByTestId('data-testid client-activity')).toContainText('client.create');
    await expect(page.getByRole('link', { name: 'Client dashboard' })).toHaveAttribute(
      'href',
      `/d/ct-admin-client-detail?var-client=${c.slug}`
    );
    await app.shot('client-detail');

    await page.getByTestId('data-testid client-pause').click();
    await expect(page.getByTestId('data-testid confirm-modal')).toContainText('Its n8n workflows are not touched');
    await app.shot('client-pause-confirm');
    await page.getByRole('button', { name: 'Pause client' }).click();
    await expect(page.getByTestId('data-testid client-action-result')).toContainText('Tony Pizza is now paused.');
    expect((await sql(`SELECT status FROM clients WHERE id = $1`, [c.id]))[0].status).toBe('paused');
    await page.getByTestId('data-testid client-resume').click();
    await page.getByRole('button', { name: 'Resume client' }).click();
    await expect(page.getByTestId('data-testid client-status')).toHaveAttribute('data-status', 'active');
    const audit = await sql(
      `SELECT action, actor FROM audit_logs WHERE client_id = $1 AND action IN ('client.pause', 'client.resume') ORDER BY id`,
      [c.id]
    );
    expect(audit).toEqual([
      { action: 'client.pause', actor: 'grafana:admin' },
      { action: 'client.resume', actor: 'grafana:admin' },
    ]);
  } finally {
    await fetch(`${process.env.N8N_URL}/api/v1/workflows/${wf.id}`, {
      method: 'DELETE',
      headers: { 'X-N8N-API-KEY': process.env.N8N_API_KEY! },
    });
  }
});
