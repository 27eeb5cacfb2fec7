import { test, expect, Page } from '@playwright/test';
import { logIn, waitForHydration } from './helpers';

const CUSTOMERS = '/projects/TSHIRTS/datasets/customers';

/** The texts of one column of the preview, once it has rows. */
async function columnTexts(page: Page, column: string): Promise<string[]> {
  const cells = page.locator(`table.data td[data-column="${column}"]`);
  await expect(cells).toHaveCount(20);
  return cells.allTextContents();
}

test('Carol sees only EU customers with emails masked; Alice sees everyone, and as Carol exactly Carol\'s rows', async ({ browser }) => {
  const carol = await (await browser.newContext()).newPage();
  await logIn(carol, 'carol@tshirts.example');
  await carol.goto(CUSTOMERS);
  await waitForHydration(carol);
  await expect(carol.locator('.row-note')).toHaveText('Only rows of your region (EU) are shown.');
  expect(new Set(await columnTexts(carol, 'region'))).toEqual(new Set(['EU']));
  expect(new Set(await columnTexts(carol, 'email'))).toEqual(new Set(['••••••']));
  const carolsIds = await columnTexts(carol, 'customer_id');
  await carol.screenshot({ path: 'test-results/customers-carol.png', fullPage: true });

  const alice = await (await browser.newContext()).newPage();
  await logIn(alice, 'alice@tshirts.example');
  await alice.goto(CUSTOMERS);
  await waitForHydration(alice);
  await expect(alice.locator('.row-note')).toHaveCount(0);
  expect((await columnTexts(alice, 'region')).some((r) => r !== 'EU')).toBe(true);
  expect((await columnTexts(alice, 'email')).every((e) => e.includes('@'))).toBe(true);

  await alice.goto('/admin/users');
  await alice.locator('tr[data-user="carol@tshirts.example"]').getByRole('link', { name: 'Impersonate user' }).click();
  await alice.getByLabel('Reason for impersonating').fill('RLS-CHECK');
  await alice.getByRole('button', { name: 'Start impersonation' }).click();
  await expect(alice.getByText('You are impersonating Carol Customer (carol@tshirts.example)')).toBeVisible();
  await alice.goto(CUSTOMERS);
  await waitForHydration(alice);
  await expect.poll(() => columnTexts(alice, 'customer_id')).toEqual(carolsIds);
  await alice.getByRole('button', { name: 'Stop Impersonation' }).click();
  await expect(alice.locator('header .who')).toHaveText('Alice Admin');
});

test('an admin sets a user\'s region on the profile', async ({ page }) => {
  await logIn(page, 'alice@tshirts.example');
  await page.goto('/admin/users');
  await page.locator('tr[data-user="u1@tshirts.example"]').getByRole('link', { name: 'U1 Analyst' }).click();
  await waitForHydration(page);
  await expect(page.locator('dd.region')).toHaveText('—');
  await page.getByLabel('Region').selectOption('US');
  await page.getByRole('button', { name: 'Save attributes' }).click();
  await expect(page.locator('dd.region')).toHaveText('US');
  await page.screenshot({ path: 'test-results/profile-attributes.png', fullPage: true });
  await page.getByLabel('Region').selectOption('');
  await page.getByRole('button', { name: 'Save attributes' }).click();
  await expect(page.locator('dd.region')).toHaveText('—');
});
