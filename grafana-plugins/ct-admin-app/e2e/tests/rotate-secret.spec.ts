import { choose, createClient, expect, pick, postEvent, sql, test, uniq } from '../fixtures';

test('Rotate a secret: the new one is shown once, the old one verifies during the grace and then stops', async ({
  page,
  app,
}) => {
  const c = await createClient(uniq('rotate'), 'Rotate Bakery');
  expect(await postEvent(c.slug, c.webhookSecret)).toBe(201);

  await app.goto('/a/ct-admin-app/actions/rotate-secret');
  await pick(page, 'rotate-client', new RegExp(c.slug));
  await choose(page, 'Other');
  await page.getByTestId('data-testid rotate-custom-grace').fill('8s');
  await page.getByTestId('data-testid rotate-submit').click();
  await expect(page.getByTestId('data-testid confirm-modal')).toContainText('keeps verifying for 8s, then stops');
  await app.shot('rotate-secret-confirm');
  await page.getByRole('button', { name: 'Rotate', exact: true }).click();

  const shown = page.getByTestId('data-testid rotate-secret-value');
  await expect(shown).toHaveValue(/^whsec_/);
  const secret = await shown.inputValue();
  await expect(page.getByTestId('data-testid rotate-previous-expiry')).toContainText(
    'version 1) keeps verifying until'
  );
  await app.shot('rotate-secret-shown');

  // PostgreSQL: version 2 is current, version 1 expires after the grace; the actor is the Grafana user.
  const versions = await sql<{ version: number; expires_at: Date | null }>(
    `SELECT s.version, s.expires_at FROM client_secrets s WHERE s.client_id = $1 AND s.kind = 'webhook' ORDER BY s.version`,
    [c.id]
  );
  expect(versions.map((v) => v.version)).toEqual([1, 2]);
  expect(versions[1]!.expires_at).toBeNull();
  const expiresAt = versions[0]!.expires_at!.getTime();
  expect(expiresAt - Date.now()).toBeGreaterThan(0);
  expect(expiresAt - Date.now()).toBeLessThanOrEqual(8000);
  const audit = await sql(
    `SELECT actor, actor_type, outcome FROM audit_logs WHERE action = 'client.rotate_secret' AND client_id = $1`,
    [c.id]
  );
  expect(audit).toEqual([{ actor: 'grafana:admin', actor_type: 'grafana', outcome: 'success' }]);

  // During the grace both secrets verify; after it only the new one.
  expect(await postEvent(c.slug, c.webhookSecret)).toBe(201);
  expect(await postEvent(c.slug, secret)).toBe(201);
  await page.waitForTimeout(Math.max(0, expiresAt - Date.now()) + 1000);
  expect(await postEvent(c.slug, c.webhookSecret)).toBe(401);
  expect(await postEvent(c.slug, secret)).toBe(201);

  // Leaving the page forgets the secret.
  await app.goto('/a/ct-admin-app/overview');
  await app.goto('/a/ct-admin-app/actions/rotate-secret');
  await expect(page.getByTestId('data-testid rotate-secret')).toBeVisible();
  await expect(shown).toHaveCount(0);
  expect(await page.content()).not.toContain(secret);
});
