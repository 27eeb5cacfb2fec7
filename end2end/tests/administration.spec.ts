import { test, expect } from '@playwright/test';
import { logIn, waitForHydration } from './helpers';

test.describe('administration', () => {
  test('grants are added and removed, and show on both sides', async ({ page }) => {
    await logIn(page, 'alice@tshirts.example');
    await page.goto('/admin/grants');
    await waitForHydration(page);
    await expect(page.locator('table.grants')).toContainText('Sam Sales (sam@tshirts.example)');
    await page.getByLabel('Who', { exact: true }).selectOption({ label: 'U2 Analyst (u2@tshirts.example)' });
    await page.getByLabel('Whom').selectOption({ label: 'Carol Customer (carol@tshirts.example)' });
    await page.getByRole('button', { name: 'Add grant' }).click();
    const row = page.locator('table.grants tr', { hasText: 'U2 Analyst (u2@tshirts.example)' });
    await expect(row).toContainText('Carol Customer (carol@tshirts.example)');
    await page.screenshot({ path: 'test-results/admin-grants.png', fullPage: true });

    await page.goto('/admin/users');
    await page.locator('tr[data-user="carol@tshirts.example"]').getByRole('link', { name: 'Carol Customer' }).click();
    await expect(page.getByRole('heading', { name: 'May be impersonated by…' })).toBeVisible();
    await expect(page.locator('.grant-list').last()).toContainText('U2 Analyst (u2@tshirts.example)');
    await page.screenshot({ path: 'test-results/profile.png', fullPage: true });

    await page.goto('/admin/grants');
    await waitForHydration(page);
    await page.locator('table.grants tr', { hasText: 'U2 Analyst' }).getByRole('button', { name: 'Remove' }).click();
    await expect(page.locator('table.grants tr', { hasText: 'U2 Analyst' })).toHaveCount(0);
  });

  test("choosing another mode than Full unticks Use impersonator's permissions", async ({ page }) => {
    await logIn(page, 'alice@tshirts.example');
    await page.goto('/admin/grants');
    await waitForHydration(page);
    const add = page.locator('.card').first();
    await add.getByLabel('Mode').selectOption({ label: 'Full' });
    await add.getByLabel("Use impersonator's permissions").check();
    await add.getByLabel('Mode').selectOption({ label: 'On behalf of' });
    await expect(add.getByLabel("Use impersonator's permissions")).not.toBeChecked();
  });

  test('groups offer Impersonate user per member', async ({ page }) => {
    await logIn(page, 'alice@tshirts.example');
    await page.goto('/admin/groups');
    const carol = page.locator('section.group', { hasText: 'Customers' }).locator('tr[data-user="carol@tshirts.example"]');
    await expect(carol.getByRole('link', { name: 'Impersonate user' })).toBeVisible();
    await page.screenshot({ path: 'test-results/admin-groups.png', fullPage: true });
  });

  test('the audit log filters and verifies its chain', async ({ page }) => {
    await logIn(page, 'alice@tshirts.example');
    // Something to audit: an impersonation started and stopped.
    await page.goto('/admin/users');
    await page.locator('tr[data-user="u1@tshirts.example"]').getByRole('link', { name: 'Impersonate user' }).click();
    await page.getByLabel('Reason for impersonating').fill('AUDIT-1');
    await page.getByRole('button', { name: 'Start impersonation' }).click();
    await page.getByRole('button', { name: 'Stop Impersonation' }).click();
    await expect(page.locator('header .who')).toHaveText('Alice Admin');

    await page.goto('/admin/audit');
    await waitForHydration(page);
    await expect(page.locator('table.audit tbody tr').first()).toBeVisible();
    await page.getByLabel('Action').selectOption('impersonation.start');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect(page).toHaveURL(/action=impersonation.start/);
    // The URL changes before the filtered rows replace the old ones: poll until they have.
    await expect
      .poll(async () => [...new Set(await page.locator('table.audit tbody td code').allTextContents())])
      .toEqual(['impersonation.start']);
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await expect(page.getByRole('status')).toContainText('The audit chain is intact');
    await page.screenshot({ path: 'test-results/admin-audit.png', fullPage: true });
  });
});
