import { test, expect } from '@playwright/test';
import { DEMO, logIn, waitForHydration, watchConsole } from './helpers';

// Every page hydrates without an error, for a member and for an admin: a mismatch between
// the server's HTML and the client stops the page from working at all.
for (const email of ['u1@tshirts.example', 'alice@tshirts.example']) {
  test(`every page hydrates cleanly for ${email}`, async ({ page }) => {
    const errors = watchConsole(page);
    await logIn(page, email);
    const pages = ['/', '/jobs', '/jobs?mine=1', '/projects/TSHIRTS', '/projects/TSHIRTS?preview=orders', DEMO, '/account/activity', '/users/1', '/shop', '/shop/cart', '/orders', '/projects/TSHIRTS/datasets/customers'];
    if (email.startsWith('alice')) pages.push('/projects/TSHIRTS/datasets/customers?view_as=6', '/admin/users', '/admin/groups', '/admin/grants', '/admin/audit', '/admin/api-clients', `${DEMO}/settings`);
    for (const path of pages) {
      await page.goto(path);
      await waitForHydration(page);
      expect(errors, `console errors on ${path}`).toEqual([]);
    }
  });
}

test('a script injected into a page does not run', async ({ page }) => {
  const errors = watchConsole(page);
  await logIn(page, 'u1@tshirts.example');
  await page.goto('/jobs');
  await waitForHydration(page);
  expect(errors, 'the app\'s own scripts run under the policy').toEqual([]);
  const ran = await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.injected = true';
    document.head.appendChild(script);
    return (window as unknown as { injected?: boolean }).injected === true;
  });
  expect(ran).toBe(false);
});
