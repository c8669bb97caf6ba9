import { expect, test } from '../fixtures';

test('the Overview shows live tiles from the real API, each linking to its dashboard', async ({ page, app }) => {
  await app.goto('/a/ct-admin-app/overview');
  const tiles = ['platform', 'n8n', 'database', 'backups', 'alerts'];
  for (const t of tiles) {
    await expect(page.getByTestId(`data-testid tile-${t}`)).toBeVisible();
  }
  await expect(page.getByTestId('data-testid tile-database')).toHaveAttribute('data-status', 'ok');
  await expect(page.getByTestId('data-testid tile-n8n')).toHaveAttribute('data-status', 'ok');
  await expect(page.getByTestId('data-testid tile-n8n')).toContainText('active workflows');
  await expect(page.getByTestId('data-testid tile-alerts')).toContainText('firing');
  await expect(page.getByRole('link', { name: 'Backups dashboard' })).toHaveAttribute('href', '/d/ct-admin-backups');
  await app.shot('overview');
});
