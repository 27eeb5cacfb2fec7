import { test, expect, Page } from '@playwright/test';
import { expectNewestJob, logIn, waitForHydration, watchConsole } from './helpers';

// The Flask Impersonation Demo: a code webapp whose backend (examples/webapps/flask-demo) Guise
// runs and proxies; the backend exchanges each request's ticket to act as the browser user.
const FLASK = '/projects/TSHIRTS/webapps/flask-demo';

/** Waits until Guise runs the Flask backend (it starts beside the server). */
async function backendAnswers(page: Page) {
  await expect
    .poll(async () => (await page.request.get(`${FLASK}/backend/healthz`)).status(), { timeout: 60_000 })
    .toBe(200);
}

test.describe('Flask Impersonation Demo (code webapp)', () => {
  test('u1 builds as themselves through the Flask backend, and as the backend outside the context', async ({ page }) => {
    const errors = watchConsole(page);
    await logIn(page, 'u1@tshirts.example');
    await backendAnswers(page);

    // The project lists both webapps; the code webapp's page leads to its own frontend.
    await page.goto('/projects/TSHIRTS');
    await expect(page.getByRole('link', { name: 'Impersonation Demo', exact: true })).toBeVisible();
    await page.getByRole('link', { name: 'Flask Impersonation Demo' }).click();
    await expect(page.getByRole('heading', { name: 'Flask Impersonation Demo' })).toBeVisible();
    await expect(page.locator('.run-as')).toContainText('A1 Webapp Backend');
    await expect(page.locator('.scopes')).toHaveText('datasets:read, datasets:build');
    await page.screenshot({ path: 'test-results/code-webapp-page.png', fullPage: true });
    await page.getByRole('link', { name: 'Open the webapp' }).click();

    await expect(page).toHaveURL(new RegExp(`${FLASK}/$`));
    await expect(page.getByRole('heading', { name: 'Impersonation Demo' })).toBeVisible();
    await expect(page.locator('#welcome')).toHaveText('Welcome: U1 Analyst');
    await page.getByRole('button', { name: 'Build the dataset' }).click();
    await expect(page.locator('#status')).toContainText('running as U1 Analyst');
    await page.screenshot({ path: 'test-results/flask-demo.png', fullPage: true });

    await page.goto('/jobs');
    await waitForHydration(page);
    await expectNewestJob(page, {
      Dataset: 'web_history_prepared',
      'Run as': 'U1 Analyst',
      'Triggered by': 'U1 Analyst',
      'Impersonated by': '—',
      Via: 'webapp "Flask Impersonation Demo"',
    });

    // Outside the context, the backend's own account builds.
    await page.goto(`${FLASK}/`);
    await expect(page.locator('#welcome')).toHaveText('Welcome: U1 Analyst');
    await page.getByRole('button', { name: 'Build as backend' }).click();
    await expect(page.locator('#status')).toContainText('running as A1 Webapp Backend');
    await page.goto('/jobs');
    await waitForHydration(page);
    await expectNewestJob(page, { 'Run as': 'A1 Webapp Backend', 'Triggered by': 'A1 Webapp Backend', Via: 'webapp "Flask Impersonation Demo"' });
    expect(errors).toEqual([]);
  });

  test('u2 (read-only) is refused inside the context, as u2', async ({ page }) => {
    await logIn(page, 'u2@tshirts.example');
    await backendAnswers(page);
    await page.goto(`${FLASK}/`);
    await expect(page.locator('#welcome')).toHaveText('Welcome: U2 Analyst');
    await page.getByRole('button', { name: 'Build the dataset' }).click();
    await expect(page.locator('#status')).toContainText('Refused');
    await page.screenshot({ path: 'test-results/flask-demo-refused.png', fullPage: true });
    await page.goto('/jobs');
    await waitForHydration(page);
    await expectNewestJob(page, { Status: 'Refused', 'Run as': 'U2 Analyst', Via: 'webapp "Flask Impersonation Demo"' });
  });

  test('an admin sees the backend running, its log, and edits its scopes', async ({ page }) => {
    await logIn(page, 'alice@tshirts.example');
    await backendAnswers(page);
    await page.goto(`${FLASK}/settings`);
    await waitForHydration(page);
    await expect(page.locator('.backend-status .badge')).toHaveText('Running');
    await expect(page.locator('pre.backend-log')).toContainText('Serving Flask app');
    await expect(page.getByLabel(/datasets:build/)).toBeChecked();
    await page.screenshot({ path: 'test-results/code-webapp-settings.png', fullPage: true });
    await page.getByLabel(/datasets:build/).uncheck();
    await page.getByRole('button', { name: 'Save scopes' }).click();
    await expect(page.getByRole('status')).toHaveText('Saved.');
    await page.goto(`${FLASK}`);
    await expect(page.locator('.scopes')).toHaveText('datasets:read');
    // Put back, for whoever runs next on this database.
    await page.goto(`${FLASK}/settings`);
    await waitForHydration(page);
    await page.getByLabel(/datasets:build/).check();
    await page.getByRole('button', { name: 'Save scopes' }).click();
    await expect(page.getByRole('status')).toHaveText('Saved.');
  });
});
