import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { test as base, expect, type Page } from '@playwright/test';
import { Client } from 'pg';

export { expect };

export const SCREENSHOTS = path.resolve(__dirname, '..', 'test-results', 'screenshots');

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: the global setup provides it`);
  }
  return v;
};

export const uniq = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/** Direct calls to the platform API with the setup's admin key: creating what a test needs. */
export async function apiCall<T = any>(
  method: string,
  apiPath: string,
  body?: unknown
): Promise<{ status: number; body: T; text: string }> {
  const res = await fetch(`${env('CT_E2E_API_URL')}${apiPath}`, {
    method,
    headers: {
      authorization: `Bearer ${env('CT_E2E_API_KEY')}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed as T, text };
}

export async function createClient(
  slug: string,
  name: string
): Promise<{ id: string; slug: string; webhookSecret: string }> {
  const res = await apiCall('POST', '/api/clients', {
    slug,
    name,
    plan: 'growth',
    contactEmail: `${slug}@example.com`,
  });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.client.id, slug, webhookSecret: res.body.webhookSecret };
}

/** Posts a signed webhook event as a client's n8n workflow would. */
export async function postEvent(slug: string, secret: string): Promise<number> {
  const body = JSON.stringify({
    id: randomBytes(8).toString('hex'),
    type: 'lead.captured',
    data: { source: 'browser-suite' },
  });
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
  const res = await fetch(`${env('CT_E2E_API_URL')}/api/webhooks/n8n/${slug}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-ct-timestamp': ts, 'x-ct-signature': `sha256=${sig}` },
    body,
  });
  return res.status;
}

export async function sql<T = any>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: env('CT_E2E_DATABASE_URL') });
  await c.connect();
  try {
    return (await c.query(text, values)).rows as T[];
  } finally {
    await c.end();
  }
}

export type Login = 'admin' | 'editor' | 'viewer';

export const test = base.extend<{
  login: Login;
  app: { goto(p: string): Promise<void>; shot(name: string): Promise<void> };
}>({
  login: ['admin', { option: true }],
  app: async ({ page, context, login }, use) => {
    const grafana = env('CT_E2E_GRAFANA_URL');
    await context.addCookies([{ name: 'grafana_session', value: login, url: grafana }]);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await use({
      goto: async (p: string) => {
        await page.goto(`${grafana}${p}`);
      },
      shot: async (name: string) => {
        mkdirSync(SCREENSHOTS, { recursive: true });
        await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
      },
    });
    expect(errors, 'uncaught errors in the page').toEqual([]);
  },
});

/** Picks an option of a @grafana/ui Select by its visible text. */
export async function pick(page: Page, inputId: string, optionText: string | RegExp) {
  await page.locator(`#${inputId}`).click();
  await page.getByRole('option', { name: optionText }).first().click();
}

/** Chooses an option of a @grafana/ui RadioButtonGroup by its label. */
export async function choose(page: Page, label: string) {
  await page.getByRole('radio', { name: label, exact: true }).check();
}

/** An absolute URL on the Grafana stand-in (for page.request, which shares the page's session cookie). */
export const grafanaUrl = (p: string) => `${env('CT_E2E_GRAFANA_URL')}${p}`;
