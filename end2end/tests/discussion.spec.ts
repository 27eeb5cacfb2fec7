import { test, expect } from '@playwright/test';
import { logIn, pick, waitForHydration, watchConsole } from './helpers';

const ORDERS = '/projects/TSHIRTS/datasets/orders';

test('a comment written on behalf of Carol shows Sam as its author, and auditors see both', async ({ browser }) => {
  const sam = await (await browser.newContext()).newPage();
  const errors = watchConsole(sam);
  await logIn(sam, 'sam@tshirts.example');
  await pick(sam, 'Carol Customer (carol@tshirts.example)', 'question on her orders');
  await expect(sam.getByText('You are acting on behalf of Carol Customer (carol@tshirts.example)')).toBeVisible();
  await sam.goto('/projects/TSHIRTS');
  await sam.getByRole('link', { name: 'Open orders', exact: true }).click();
  await expect(sam).toHaveURL(new RegExp(`${ORDERS}$`));
  await waitForHydration(sam);
  await expect(sam.getByRole('heading', { name: 'Preview of orders' })).toBeVisible();
  await expect(sam.getByRole('heading', { name: 'Discussion' })).toBeVisible();
  await sam.getByLabel('Comment').fill('Carol asks about order 42.');
  await sam.getByRole('button', { name: 'Add comment' }).click();
  const newest = sam.locator('li.comment').last();
  await expect(newest.locator('.body')).toHaveText('Carol asks about order 42.');
  await expect(newest.locator('.author')).toHaveText('Sam Sales');
  await expect(newest.locator('.other-person')).toHaveCount(0);
  await sam.screenshot({ path: 'test-results/dataset-discussion.png', fullPage: true });
  await sam.getByRole('button', { name: 'Stop Impersonation' }).click();
  expect(errors).toEqual([]);

  const alice = await (await browser.newContext()).newPage();
  await logIn(alice, 'alice@tshirts.example');
  await alice.goto(ORDERS);
  const seen = alice.locator('li.comment', { hasText: 'Carol asks about order 42.' });
  await expect(seen.locator('.author')).toHaveText('Sam Sales');
  await expect(seen.locator('.other-person')).toHaveText('on behalf of Carol Customer');
  await alice.screenshot({ path: 'test-results/dataset-discussion-admin.png', fullPage: true });

  const carol = await (await browser.newContext()).newPage();
  await logIn(carol, 'carol@tshirts.example');
  await carol.goto(ORDERS);
  const hers = carol.locator('li.comment', { hasText: 'Carol asks about order 42.' });
  await expect(hers.locator('.author')).toHaveText('Sam Sales');
  await expect(hers.locator('.other-person')).toHaveCount(0);
});
