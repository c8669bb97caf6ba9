import { apiCall, createClient, expect, pick, sql, test, uniq } from '../fixtures';

async function setActor(id: string, actor: string) {
  await sql(
    `DO $$ BEGIN
       ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only;
       UPDATE audit_logs SET actor = '${actor.replace(/'/g, "''")}' WHERE id = ${Number(id)};
       ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only;
     END $$`
  );
}

test('Audit log: filter, page, open a row, and Verify chain finds a row changed behind the API', async ({
  page,
  app,
}) => {
  const c = await createClient(uniq('audit'), 'Audit Plumbing');
  const [created] = await sql<{ id: string; actor: string }>(
    `SELECT id::text, actor FROM audit_logs WHERE action = 'client.create' AND client_id = $1`,
    [c.id]
  );

  await app.goto('/a/ct-admin-app/actions/audit');
  await expect(page.getByTestId(`data-testid audit-row-${created!.id}`)).toContainText('client.create');
  await page.getByTestId('data-testid audit-action').fill('client.create');
  await pick(page, 'audit-client', new RegExp(c.slug));
  await page.getByTestId('data-testid audit-apply').click();
  await expect(page.locator('[data-testid^="data-testid audit-row-"]')).toHaveCount(1);
  await page.getByTestId(`data-testid audit-row-${created!.id}`).getByRole('button', { name: 'Details' }).click();
  await expect(page.getByTestId('data-testid audit-details')).toContainText(c.slug);
  await app.shot('audit-log-details');
  await page.keyboard.press('Escape');

  // Tamper with the row directly in PostgreSQL, as someone with database access could.
  await setActor(created!.id, 'someone-else');
  try {
    await page.getByTestId('data-testid audit-verify').click();
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    const result = page.getByTestId('data-testid audit-verify-result');
    await expect(result).toHaveAttribute('data-ok', 'false');
    await expect(result).toContainText(`BROKEN at row ${created!.id}`);
    await app.shot('audit-verify-broken');
  } finally {
    await setActor(created!.id, created!.actor);
  }
  await page.getByTestId('data-testid audit-verify').click();
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await expect(page.getByTestId('data-testid audit-verify-result')).toHaveAttribute('data-ok', 'true');
  const verifications = await sql(
    `SELECT actor, outcome FROM audit_logs WHERE action = 'audit.verify' ORDER BY id DESC LIMIT 2`
  );
  expect(verifications).toEqual([
    { actor: 'grafana:admin', outcome: 'success' },
    { actor: 'grafana:admin', outcome: 'failure' },
  ]);
});

test('Audit log: the API cursor pages through more rows than one page holds', async ({ page, app }) => {
  // Enough rows for a second page: a client paused and resumed, each change one audit row.
  const c = await createClient(uniq('page'), 'Paging Print Shop');
  const n = Number((await sql<{ n: string }>(`SELECT count(*)::text AS n FROM audit_logs`))[0]!.n);
  for (let i = n; i < 55; i++) {
    expect((await apiCall('POST', `/api/clients/${c.slug}/${i % 2 ? 'resume' : 'pause'}`)).status).toBe(200);
  }
  await app.goto('/a/ct-admin-app/actions/audit');
  const rows = page.locator('[data-testid^="data-testid audit-row-"]');
  await expect(rows).toHaveCount(50);
  await page.getByTestId('data-testid audit-more').click();
  await expect.poll(() => rows.count()).toBeGreaterThan(50);
  await app.shot('audit-log');
});
