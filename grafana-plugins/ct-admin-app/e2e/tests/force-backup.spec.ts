import { expect, sql, test } from '../fixtures';

test('Force a backup: started from the page, followed until it ends, stored in the bench S3', async ({ page, app }) => {
  await app.goto('/a/ct-admin-app/actions/backup');
  await expect(page.getByRole('link', { name: 'Backups dashboard' })).toHaveAttribute('href', '/d/ct-admin-backups');
  await page.getByTestId('data-testid backup-start').click();
  await expect(page.getByTestId('data-testid confirm-modal')).toContainText(
    'dumped, compressed, encrypted and uploaded'
  );
  await page.getByRole('button', { name: 'Start backup' }).click();
  await expect(page.getByTestId('data-testid backup-progress')).toContainText(/Backup started|already running/);
  await app.shot('force-backup-running');
  const result = page.getByTestId('data-testid backup-result');
  await expect(result).toHaveAttribute('data-state', 'succeeded', { timeout: 90_000 });
  await expect(page.getByText(/^Last successful backup .* ago/)).toBeVisible();
  await app.shot('force-backup-done');
  const runId = /Run ([0-9a-f-]{36}) succeeded/.exec((await result.textContent()) ?? '')?.[1];
  expect(runId).toBeDefined();

  const [run] = await sql<{ status: string; object_key: string; bytes: string }>(
    `SELECT status, object_key, bytes::text FROM backup_runs WHERE id = $1`,
    [runId]
  );
  expect(run).toMatchObject({ status: 'succeeded' });
  expect(Number(run!.bytes)).toBeGreaterThan(0);
  const object = await fetch(`${process.env.S3_ENDPOINT}/${process.env.S3_BUCKET}/${run!.object_key}`, {
    method: 'HEAD',
  });
  expect(object.status).toBe(200);
  expect(Number(object.headers.get('content-length'))).toBe(Number(run!.bytes));
  const audit = await sql(`SELECT actor, outcome FROM audit_logs WHERE action = 'backup.force' AND target_id = $1`, [
    runId,
  ]);
  expect(audit).toEqual([{ actor: 'grafana:admin', outcome: 'success' }]);

  // The Overview's backups tile now reports it.
  await app.goto('/a/ct-admin-app/overview');
  await expect(page.getByTestId('data-testid tile-backups')).toHaveAttribute('data-status', 'ok');
});
