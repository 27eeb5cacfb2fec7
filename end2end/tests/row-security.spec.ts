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
  await expect(carol.locator('.row-note')).toHaveText('Only rows of the EU region are shown.');
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

  // View as Carol: her preview beside Alice's own, with the rows she does not see counted.
  await alice.getByLabel('View as').selectOption({ label: 'Carol Customer (carol@tshirts.example)' });
  await alice.getByRole('button', { name: 'View as' }).click();
  await expect(alice).toHaveURL(/view_as=\d+/);
  await expect(alice.locator('.pane.view-as h3')).toHaveText('As Carol Customer sees it');
  await expect(alice.locator('.pane.view-as .hidden-rows')).toHaveText(/^\d+ rows hidden$/);
  const viewedAs = alice.locator('.pane.view-as table.data td[data-column="customer_id"]');
  await expect(viewedAs).toHaveCount(20);
  expect(await viewedAs.allTextContents()).toEqual(carolsIds);
  await alice.screenshot({ path: 'test-results/view-as.png', fullPage: true });
  await alice.goto('/admin/audit?action=dataset.view_as');
  await expect(alice.locator('table.audit tbody tr').first()).toContainText('dataset customers as carol@tshirts.example');

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
