import { test, expect, Page } from '@playwright/test';
import { DEMO, expectNewestJob, logIn, pick, setSamsGrant, waitForHydration, watchConsole } from './helpers';

const CAROL_BANNER = 'You are impersonating Carol Customer (carol@tshirts.example)';

async function startFromAdminUsers(page: Page, email: string, reason: string) {
  await page.goto('/admin/users');
  await page.locator(`tr[data-user="${email}"]`).getByRole('link', { name: 'Impersonate user' }).click();
  await page.getByLabel('Reason for impersonating').fill(reason);
  await page.getByRole('button', { name: 'Start impersonation' }).click();
}

test.describe('acting as another user (hydrated)', () => {
  test('Alice impersonates Carol, builds, and stops', async ({ page }) => {
    const errors = watchConsole(page);
    await logIn(page, 'alice@tshirts.example');
    await waitForHydration(page);
    await startFromAdminUsers(page, 'carol@tshirts.example', 'TICKET-42');
    await expect(page.getByText(CAROL_BANNER)).toBeVisible();
    await expect(page.getByRole('button', { name: 'Stop Impersonation' })).toBeVisible();
    await expect(page.locator('header .who')).toHaveText('Carol Customer');

    await page.goto(DEMO);
    await waitForHydration(page);
    await expect(page.getByText(CAROL_BANNER)).toBeVisible();
    await expect(page.getByText('Welcome: Carol Customer')).toBeVisible();
    await expect(page.locator('.impersonation-banner')).toContainText(/\d+:\d\d left/);
    await page.screenshot({ path: 'test-results/impersonating-demo.png', fullPage: true });
    await page.getByRole('button', { name: 'Build the dataset' }).click();
    await expect(page.getByRole('alert')).toContainText('Carol Customer (carol@tshirts.example) may not build');
    await page.getByRole('button', { name: 'Build as backend' }).click();
    await expect(page.getByRole('status')).toContainText('as A1 Webapp Backend');

    await page.goto('/jobs');
    await waitForHydration(page);
    await expectNewestJob(page, {
      'Run as': 'A1 Webapp Backend',
      'Triggered by': 'Carol Customer',
      'Impersonated by': 'Alice Admin',
    });
    const refused = page.locator('table.jobs tbody tr[data-job-id]').nth(1);
    await expect(refused).toContainText('Refused');
    await expect(refused).toContainText('Alice Admin');
    await page.screenshot({ path: 'test-results/impersonating-jobs.png', fullPage: true });

    await page.getByRole('button', { name: 'Stop Impersonation' }).click();
    await expect(page).toHaveURL(/\/users\/\d+$/);
    await expect(page.getByRole('heading', { name: 'Carol Customer' })).toBeVisible();
    await expect(page.locator('header .who')).toHaveText('Alice Admin');
    await expect(page.getByText(CAROL_BANNER)).toHaveCount(0);
    expect(errors).toEqual([]);
  });

  test('an admin target cannot be impersonated, and the page says why', async ({ page }) => {
    await logIn(page, 'alice@tshirts.example');
    await page.goto('/admin/users');
    const bob = page.locator('tr[data-user="bob@tshirts.example"]');
    await expect(bob.getByRole('button', { name: 'Impersonate user' })).toBeDisabled();
    await expect(bob).toContainText('administrators cannot be impersonated');
    await expect(page.locator('tr[data-user="alice@tshirts.example"]')).toContainText('you cannot impersonate yourself');
    await page.screenshot({ path: 'test-results/admin-users.png', fullPage: true });
  });

  test('Sam uses the picker: exactly Carol and Dave', async ({ page }) => {
    await logIn(page, 'sam@tshirts.example');
    await waitForHydration(page);
    await expect(page.locator('#picker-user option')).toHaveText([
      'Carol Customer (carol@tshirts.example)',
      'Dave Customer (dave@tshirts.example)',
    ]);
    await page.locator('#picker-user').selectOption({ label: 'Dave Customer (dave@tshirts.example)' });
    await page.getByLabel('Reason').fill('order for Dave');
    await page.getByRole('button', { name: 'Impersonate selected' }).click();
    // The seeded grant Sam → Customers is "On behalf of".
    await expect(page.getByText('You are acting on behalf of Dave Customer (dave@tshirts.example)')).toBeVisible();
    await expect(page.locator('.impersonation-banner .badge.mode')).toHaveText('On behalf of');
    await page.screenshot({ path: 'test-results/picker-impersonating.png', fullPage: true });
    await page.getByRole('button', { name: 'Stop Impersonation' }).click();
    await expect(page.locator('header .who')).toHaveText('Sam Sales');
  });

  test('with the grant switched to Full, Sam impersonates fully; an admin picks the mode', async ({ browser }) => {
    const alice = await (await browser.newContext()).newPage();
    await logIn(alice, 'alice@tshirts.example');
    await setSamsGrant(alice, 'Full');
    await alice.screenshot({ path: 'test-results/admin-grants-modes.png', fullPage: true });

    const sam = await (await browser.newContext()).newPage();
    await logIn(sam, 'sam@tshirts.example');
    await pick(sam, 'Carol Customer (carol@tshirts.example)', 'order for Carol');
    await expect(sam.getByText(CAROL_BANNER)).toBeVisible();
    await sam.getByRole('button', { name: 'Stop Impersonation' }).click();
    await expect(sam.locator('header .who')).toHaveText('Sam Sales');
    await setSamsGrant(alice, 'On behalf of');

    // An admin starts Full unless she picks another mode.
    await alice.goto('/admin/users');
    await alice.locator('tr[data-user="carol@tshirts.example"]').getByRole('link', { name: 'Impersonate user' }).click();
    await expect(alice.getByLabel('Mode')).toHaveValue('full');
    await alice.getByLabel('Mode').selectOption({ label: 'On behalf of' });
    await alice.getByLabel('Reason for impersonating').fill('TICKET-44');
    await alice.screenshot({ path: 'test-results/start-form-modes.png', fullPage: true });
    await alice.getByRole('button', { name: 'Start impersonation' }).click();
    await expect(alice.getByText('You are acting on behalf of Carol Customer (carol@tshirts.example)')).toBeVisible();
    await alice.screenshot({ path: 'test-results/banner-on-behalf.png' });
    await alice.getByRole('button', { name: 'Stop Impersonation' }).click();
    await expect(alice.locator('header .who')).toHaveText('Alice Admin');
  });

  test('u1 cannot impersonate anyone', async ({ page }) => {
    await logIn(page, 'u1@tshirts.example');
    await expect(page.getByText('You cannot impersonate anyone')).toBeVisible();
  });

  test('Carol sees who acted as her', async ({ page }) => {
    await logIn(page, 'carol@tshirts.example');
    await page.goto('/account/activity');
    const ticket = page.locator('.activity', { hasText: 'TICKET-42' });
    await expect(ticket).toContainText('Alice Admin');
    await expect(ticket).toContainText('Full');
    await expect(page.locator('.activity', { hasText: 'TICKET-44' })).toContainText('On behalf of');
    await page.screenshot({ path: 'test-results/activity.png', fullPage: true });
  });
});

test.describe('acting as another user without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the banner is server-rendered and Stop works', async ({ page }) => {
    await logIn(page, 'alice@tshirts.example');
    await startFromAdminUsers(page, 'carol@tshirts.example', 'TICKET-43');
    await page.goto(DEMO);
    await expect(page.getByText(CAROL_BANNER)).toBeVisible();
    await expect(page.getByText('Welcome: Carol Customer')).toBeVisible();
    await page.getByRole('button', { name: 'Stop Impersonation' }).click();
    await expect(page).toHaveURL(/\/users\/\d+$/);
    await expect(page.getByText(CAROL_BANNER)).toHaveCount(0);
    await expect(page.locator('header .who')).toHaveText('Alice Admin');
  });
});
