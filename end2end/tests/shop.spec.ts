import { test, expect, Browser, Page } from '@playwright/test';
import { logIn, pick, setSamsGrant, waitForHydration, watchConsole } from './helpers';

const CAROL = 'Carol Customer (carol@tshirts.example)';

async function newPage(browser: Browser): Promise<Page> {
  return (await browser.newContext()).newPage();
}

/** Adds `quantity` of a product on the shop page. */
async function addToCart(page: Page, slug: string, quantity: number) {
  const product = page.locator(`[data-product="${slug}"]`);
  await product.getByLabel('Quantity').fill(String(quantity));
  await product.getByRole('button', { name: 'Add to cart' }).click();
}

/** The cells of the newest order on the Orders page. */
async function expectNewestOrder(page: Page, cells: Record<string, string>) {
  const row = page.locator('table.orders tbody tr').first();
  for (const [cell, text] of Object.entries(cells)) {
    await expect(row.locator(`td.${cell}`)).toHaveText(text);
  }
}

test.describe('the shop (hydrated)', () => {
  test('Sam acts on behalf of Carol with Staff prices, and Carol sees the order', async ({ browser }) => {
    const sam = await newPage(browser);
    const errors = watchConsole(sam);
    await logIn(sam, 'sam@tshirts.example');
    await pick(sam, CAROL, 'order by phone');
    await expect(sam.getByText(`You are acting on behalf of ${CAROL}`)).toBeVisible();
    await sam.goto('/shop');
    await waitForHydration(sam);
    await expect(sam.getByRole('heading', { name: 'Shop' })).toBeVisible();
    await expect(sam.locator('.shopper')).toContainText('placed by Sam Sales');
    await expect(sam.locator('[data-product="classic-tee"] .price')).toHaveText('€13.30');
    await addToCart(sam, 'classic-tee', 2);
    await expect(sam.locator('.notice[role=status]')).toHaveText('Added to the cart.');
    await expect(sam.locator('a.cart-link')).toHaveText('Cart (2 items)');
    await sam.screenshot({ path: 'test-results/shop-on-behalf.png', fullPage: true });

    await sam.goto('/shop/cart');
    await waitForHydration(sam);
    await expect(sam.locator('table.cart .total')).toHaveText('€26.60');
    await sam.screenshot({ path: 'test-results/cart.png', fullPage: true });
    await sam.getByRole('button', { name: 'Place order' }).click();
    await expect(sam).toHaveURL(/\/orders$/);
    await expectNewestOrder(sam, { customer: 'Carol Customer', 'placed-by': 'Sam Sales', 'price-group': 'Staff', total: '€26.60' });
    await sam.screenshot({ path: 'test-results/orders-on-behalf.png', fullPage: true });
    await sam.getByRole('button', { name: 'Stop Impersonation' }).click();
    await expect(sam.locator('header .who')).toHaveText('Sam Sales');
    expect(errors).toEqual([]);

    const carol = await newPage(browser);
    await logIn(carol, 'carol@tshirts.example');
    await carol.goto('/orders');
    await expectNewestOrder(carol, { customer: 'Carol Customer', 'placed-by': 'Sam Sales', total: '€26.60' });
  });

  test('with the grant switched to Full, the same order is Carol\'s at Retail prices', async ({ browser }) => {
    const alice = await newPage(browser);
    await logIn(alice, 'alice@tshirts.example');
    await setSamsGrant(alice, 'Full');

    const sam = await newPage(browser);
    await logIn(sam, 'sam@tshirts.example');
    await pick(sam, CAROL, 'order by phone');
    await expect(sam.getByText(`You are impersonating ${CAROL}`)).toBeVisible();
    await sam.goto('/shop');
    await waitForHydration(sam);
    await expect(sam.locator('[data-product="classic-tee"] .price')).toHaveText('€19.00');
    await addToCart(sam, 'classic-tee', 2);
    await expect(sam.locator('a.cart-link')).toHaveText('Cart (2 items)');
    await sam.goto('/shop/cart');
    await waitForHydration(sam);
    await sam.getByRole('button', { name: 'Place order' }).click();
    await expect(sam).toHaveURL(/\/orders$/);
    await expectNewestOrder(sam, { customer: 'Carol Customer', 'placed-by': 'Carol Customer', 'price-group': 'Retail', total: '€38.00' });
    await sam.getByRole('button', { name: 'Stop Impersonation' }).click();

    // Auditors see both people whatever the mode.
    await alice.goto('/orders');
    await expectNewestOrder(alice, { 'placed-by': 'Carol Customer impersonated by Sam Sales' });
    await expect(alice.locator('table.orders tbody tr').nth(1).locator('td.placed-by')).toHaveText('Sam Sales on behalf of Carol Customer');
    await alice.screenshot({ path: 'test-results/orders-admin.png', fullPage: true });
    await setSamsGrant(alice, 'On behalf of');
  });

  test('a read-only impersonation refuses the order', async ({ page }) => {
    await logIn(page, 'alice@tshirts.example');
    await page.goto('/admin/users');
    await page.locator('tr[data-user="carol@tshirts.example"]').getByRole('link', { name: 'Impersonate user' }).click();
    await page.getByLabel('Reason for impersonating').fill('CHECK-CART');
    await page.getByLabel('Read-only (refuse every change)').check();
    await page.getByRole('button', { name: 'Start impersonation' }).click();
    await expect(page.locator('.impersonation-banner')).toContainText('read-only');
    await page.goto('/shop');
    await waitForHydration(page);
    await addToCart(page, 'organic-tee', 1);
    await expect(page.locator('a.cart-link')).toHaveText('Cart (1 item)');
    await page.goto('/shop/cart');
    await waitForHydration(page);
    await page.getByRole('button', { name: 'Place order' }).click();
    await expect(page.getByRole('alert')).toContainText('read-only impersonation: changes are not allowed');
    await page.getByRole('button', { name: 'Stop Impersonation' }).click();
  });
});

test.describe('the shop without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('Carol adds to the cart and places an order', async ({ page }) => {
    await logIn(page, 'carol@tshirts.example');
    await page.goto('/shop');
    await addToCart(page, 'graphic-tee', 3);
    await page.goto('/shop/cart');
    await expect(page.locator('table.cart .total')).toHaveText('€69.00');
    await page.getByRole('button', { name: 'Place order' }).click();
    await expect(page).toHaveURL(/\/orders$/);
    await expectNewestOrder(page, { customer: 'Carol Customer', 'placed-by': 'Carol Customer', 'price-group': 'Retail', total: '€69.00' });
  });
});
