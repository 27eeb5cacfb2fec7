import { test, expect } from '@playwright/test';
import { DEMO, expectNewestJob, logIn, newestJobRow, waitForHydration, watchConsole } from './helpers';

test.describe('Impersonation Demo (hydrated)', () => {
  test('u1 builds inside and outside the impersonation context', async ({ page }) => {
    const errors = watchConsole(page);
    await logIn(page, 'u1@tshirts.example');
    await expect(page.locator('header .who')).toHaveText('U1 Analyst');
    await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();

    await page.goto('/projects/TSHIRTS');
    await page.getByRole('link', { name: 'web_history', exact: true }).click();
    await expect(page.getByRole('heading', { name: 'Preview of web_history' })).toBeVisible();
    await expect(page.getByText('First 20 of 52000 rows')).toBeVisible();
    await page.screenshot({ path: 'test-results/project-page.png', fullPage: true });
    await page.getByRole('link', { name: 'Impersonation Demo', exact: true }).click();
    await expect(page).toHaveURL(new RegExp(`${DEMO}$`));
    await waitForHydration(page);
    await expect(page.getByRole('heading', { name: 'Impersonation Demo' })).toBeVisible();
    await expect(page.getByText('Welcome: U1 Analyst')).toBeVisible();
    await expect(page.locator('.run-as')).toContainText('A1 Webapp Backend');
    await page.screenshot({ path: 'test-results/demo-page.png', fullPage: true });

    // Inside the context: the job runs as the browser user.
    await page.getByRole('button', { name: 'Build the dataset' }).click();
    await expect(page.getByRole('status')).toContainText('queued: building web_history_prepared as U1 Analyst');

    await page.goto('/jobs');
    await waitForHydration(page);
    await expectNewestJob(page, {
      Dataset: 'web_history_prepared',
      'Run as': 'U1 Analyst',
      'Triggered by': 'U1 Analyst',
      'Impersonated by': '—',
      Via: 'webapp "Impersonation Demo"',
    });
    // Live: the row turns Succeeded without a reload.
    await expect(newestJobRow(page).locator('.status')).toHaveText('Succeeded', { timeout: 90_000 });
    await expect(newestJobRow(page).locator('td.num').last()).toHaveText(/^\d+ → \d+$/);
    await page.screenshot({ path: 'test-results/jobs-page.png', fullPage: true });
    await expect(newestJobRow(page).locator('.person').first()).toHaveAttribute('title', 'u1@tshirts.example');

    await newestJobRow(page).getByRole('link').first().click();
    await expect(page.getByRole('heading', { name: /web_history_prepared/ })).toBeVisible();
    await expect(page.locator('table.log')).toContainText('Read 52000 rows from web_history');
    await expect(page.locator('table.log')).toContainText('Succeeded:');
    await page.screenshot({ path: 'test-results/job-detail.png', fullPage: true });

    // Outside the context: the job runs as the backend identity.
    await page.goto(DEMO);
    await waitForHydration(page);
    await page.getByRole('button', { name: 'Build as backend' }).click();
    await expect(page.getByRole('status')).toContainText('as A1 Webapp Backend');
    await page.goto('/jobs');
    await expectNewestJob(page, { 'Run as': 'A1 Webapp Backend', 'Triggered by': 'U1 Analyst' });
    expect(errors).toEqual([]);
  });

  test('u2 is refused inside the context but the backend may build', async ({ page }) => {
    await logIn(page, 'u2@tshirts.example');
    await page.goto(DEMO);
    await waitForHydration(page);
    await expect(page.getByText('Welcome: U2 Analyst')).toBeVisible();
    await page.getByRole('button', { name: 'Build the dataset' }).click();
    await expect(page.getByRole('alert')).toContainText(
      'U2 Analyst (u2@tshirts.example) may not build web_history_prepared',
    );
    await page.screenshot({ path: 'test-results/demo-refused.png', fullPage: true });
    await page.goto('/jobs?mine=1');
    await expectNewestJob(page, { Status: 'Refused', 'Run as': 'U2 Analyst' });

    await page.goto(DEMO);
    await waitForHydration(page);
    await page.getByRole('button', { name: 'Build as backend' }).click();
    await expect(page.getByRole('status')).toContainText('as A1 Webapp Backend');
    await page.goto('/jobs');
    await expectNewestJob(page, { 'Run as': 'A1 Webapp Backend', 'Triggered by': 'U2 Analyst' });
    await expect(newestJobRow(page).locator('.status')).not.toHaveText('Refused');
  });

  test('an admin changes "Run backend as"', async ({ page }) => {
    await logIn(page, 'alice@tshirts.example');
    await page.goto(`${DEMO}/settings`);
    await waitForHydration(page);
    await page.getByLabel('Run backend as').selectOption({ label: 'Bob Admin (bob@tshirts.example)' });
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page.getByRole('status')).toHaveText('Saved.');
    await page.screenshot({ path: 'test-results/settings.png', fullPage: true });

    await page.goto(DEMO);
    await waitForHydration(page);
    await expect(page.locator('.run-as')).toContainText('Bob Admin');
    await page.getByRole('button', { name: 'Build as backend' }).click();
    await expect(page.getByRole('status')).toContainText('as Bob Admin');
    await page.goto('/jobs');
    await expectNewestJob(page, { 'Run as': 'Bob Admin', 'Triggered by': 'Alice Admin' });

    // Put the demo back as it was.
    await page.goto(`${DEMO}/settings`);
    await waitForHydration(page);
    await page.getByLabel('Run backend as').selectOption({ label: 'A1 Webapp Backend (webapp-backend@tshirts.example)' });
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page.getByRole('status')).toHaveText('Saved.');
  });

  test('members cannot open the settings', async ({ page }) => {
    await logIn(page, 'u1@tshirts.example');
    await page.goto(`${DEMO}/settings`);
    await expect(page.getByRole('alert')).toContainText('only administrators may do this');
  });

  test('pages need a login', async ({ page }) => {
    await page.goto('/jobs');
    await expect(page).toHaveURL(/\/login\?next=\/jobs/);
    await expect(page.getByLabel('Email')).toBeVisible();
  });

  test('a wrong password gets one generic message', async ({ page }) => {
    await page.goto('/login');
    await waitForHydration(page);
    await page.getByLabel('Email').fill('u1@tshirts.example');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByRole('alert')).toHaveText('wrong email or password');
    await page.screenshot({ path: 'test-results/login-error.png' });
  });

  test('password guessing is told to wait', async ({ page }) => {
    // An address of its own per run is not available here: an email of its own is.
    const email = `nobody-${Date.now()}@tshirts.example`;
    await page.goto('/login');
    await waitForHydration(page);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('guess');
    // Each try waits for its answer, so the sixth is sent after the fifth failure counted.
    const tryOnce = async (status: number) => {
      const answered = page.waitForResponse((r) => r.url().includes('/api/login'));
      await page.getByRole('button', { name: 'Log in' }).click();
      expect((await answered).status()).toBe(status);
    };
    for (let n = 1; n <= 5; n++) {
      await tryOnce(401);
      await expect(page.getByRole('alert')).toHaveText('wrong email or password');
    }
    await tryOnce(429);
    await expect(page.getByRole('alert')).toHaveText(/^too many failed logins; try again in [1-4] s$/);
    await page.screenshot({ path: 'test-results/login-throttled.png' });
  });
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the demo page is rendered on the server and its buttons still work', async ({ page }) => {
    await logIn(page, 'u1@tshirts.example');
    await page.goto(DEMO);
    await expect(page.getByRole('heading', { name: 'Impersonation Demo' })).toBeVisible();
    await expect(page.getByText('Welcome: U1 Analyst')).toBeVisible();
    await page.getByRole('button', { name: 'Build as backend' }).click();
    // The form post redirects back to the page it came from.
    await expect(page).toHaveURL(new RegExp(`${DEMO}\\??$`));
    const first = page.locator('table.jobs tbody tr[data-job-id]').first();
    await expect(first).toContainText('A1 Webapp Backend');
    await expect(first).toContainText('U1 Analyst');
    await page.screenshot({ path: 'test-results/demo-no-js.png', fullPage: true });
  });

  test('a refused build shows its message', async ({ page }) => {
    await logIn(page, 'u2@tshirts.example');
    await page.goto(DEMO);
    await page.getByRole('button', { name: 'Build the dataset' }).click();
    await expect(page.getByRole('alert')).toContainText('may not build web_history_prepared');
  });
});
