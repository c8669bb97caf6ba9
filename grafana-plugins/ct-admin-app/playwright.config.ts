import { defineConfig } from '@playwright/test';

/**
 * The browser suite: Debian's Chromium against the built plugin in the Grafana stand-in, and the
 * real platform API and bench services behind its plugin proxy (e2e/global-setup.ts).
 * Screenshots of every page go to test-results/screenshots (ignored by git).
 */
export default defineConfig({
  testDir: './e2e/tests',
  outputDir: './test-results/artifacts',
  globalSetup: './e2e/global-setup.ts',
  // One worker: the tests share one API, one n8n and one backup lock.
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
});
