import { expect, grafanaUrl, test } from '../fixtures';

test('Configuration: the secret is stored but never sent back, and Test connection reports what the API sees', async ({
  page,
  app,
}) => {
  const secret = process.env.CT_E2E_PROXY_SECRET!;
  const settings = () => page.request.get(grafanaUrl('/api/plugins/ct-admin-app/settings'));
  const restore = () =>
    page.request.post(grafanaUrl('/api/plugins/ct-admin-app/settings'), {
      data: {
        enabled: true,
        pinned: true,
        jsonData: { apiUrl: process.env.CT_E2E_API_URL },
        secureJsonData: { proxySecret: secret },
      },
    });
  try {
    await app.goto('/plugins/ct-admin-app');
    await expect(page.getByTestId('data-testid ac-api-url')).toHaveValue(process.env.CT_E2E_API_URL!);
    await expect(page.getByTestId('data-testid ac-proxy-secret')).toHaveValue('configured');
    const stored = await settings();
    expect(await stored.text()).not.toContain(secret);
    expect((await stored.json()).secureJsonFields).toEqual({ proxySecret: true });

    await page.getByTestId('data-testid ac-test-connection').click();
    await expect(page.getByTestId('data-testid ac-test-result')).toContainText(
      'records you as grafana:admin (grafana) with the scopes admin'
    );
    await app.shot('configuration');

    // A wrong secret: saved, the page reloads, the API refuses it and the page says where to look.
    await page.getByRole('button', { name: 'Reset' }).click();
    await page.getByTestId('data-testid ac-proxy-secret').fill('not-the-secret-not-the-secret-000');
    await Promise.all([page.waitForEvent('load'), page.getByTestId('data-testid ac-save').click()]);
    await page.getByTestId('data-testid ac-test-connection').click();
    await expect(page.getByTestId('data-testid ac-test-result')).toContainText(
      'The API refused the configured credentials (401)'
    );
    await expect(page.getByTestId('data-testid ac-test-result')).toContainText('API_GRAFANA_PROXY_SECRET');
    await app.shot('configuration-wrong-secret');

    // An unreachable API.
    await page.getByTestId('data-testid ac-api-url').fill('http://127.0.0.1:9');
    await Promise.all([page.waitForEvent('load'), page.getByTestId('data-testid ac-save').click()]);
    await page.getByTestId('data-testid ac-test-connection').click();
    await expect(page.getByTestId('data-testid ac-test-result')).toContainText('The platform API is unreachable (502)');

    // Back to the right settings, through the page.
    await page.getByTestId('data-testid ac-api-url').fill(process.env.CT_E2E_API_URL!);
    await page.getByRole('button', { name: 'Reset' }).click();
    await page.getByTestId('data-testid ac-proxy-secret').fill(secret);
    await Promise.all([page.waitForEvent('load'), page.getByTestId('data-testid ac-save').click()]);
    await page.getByTestId('data-testid ac-test-connection').click();
    await expect(page.getByTestId('data-testid ac-test-result')).toContainText('Connected to the platform API');
  } finally {
    await restore();
  }
});

test.describe('as an Editor', () => {
  test.use({ login: 'editor' });
  test('cannot change the settings', async ({ page, app }) => {
    await app.goto('/plugins/ct-admin-app');
    const res = await page.request.post(grafanaUrl('/api/plugins/ct-admin-app/settings'), {
      data: { jsonData: { apiUrl: 'http://evil.example' } },
    });
    expect(res.status()).toBe(403);
    expect(
      (await (await page.request.get(grafanaUrl('/api/plugins/ct-admin-app/settings'))).json()).jsonData.apiUrl
    ).toBe(process.env.CT_E2E_API_URL);
  });
});
