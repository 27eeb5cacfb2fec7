import { defineConfig, devices } from '@playwright/test';

// The server under test: the release build, on its own port, with a fresh database each run.
const PORT = Number(process.env.GUISE_E2E_PORT ?? 3100);
const BASE_URL = `http://127.0.0.1:${PORT}`;

export default defineConfig({
  testDir: './tests',
  timeout: 120_000,
  expect: { timeout: 15_000 },
  // The tests share one seeded database and check job order, so they run one at a time.
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: process.env.CI ? 'line' : 'list',
  outputDir: 'test-results',
  use: {
    baseURL: BASE_URL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        viewport: { width: 1360, height: 900 },
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
    },
  ],
  webServer: {
    // The demo, with the Flask Impersonation Demo registered; `exec` so that stopping the
    // server reaches it (and it stops the webapp's backend).
    command: `rm -rf target/e2e && mkdir -p target/e2e && scripts/register-flask-demo.sh target/release/server > /dev/null && exec target/release/server serve`,
    cwd: '..',
    url: `${BASE_URL}/healthz`,
    env: {
      DATABASE_URL: 'sqlite://target/e2e/guise.db',
      LEPTOS_SITE_ADDR: `127.0.0.1:${PORT}`,
      GUISE_DEMO: 'true',
      RUST_LOG: 'warn',
    },
    reuseExistingServer: true,
    timeout: 120_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
