import { expect, Page } from '@playwright/test';

export const PASSWORD = 'guise-demo';
export const DEMO = '/projects/TSHIRTS/webapps/impersonation-demo';

/** Logs in through the login page, as a person would. */
export async function logIn(page: Page, email: string) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).not.toHaveURL(/\/login/);
  // A hydrated login navigates before the header has reloaded who is signed in: wait for it,
  // so nothing reads the page of the anonymous visitor it was a moment ago.
  await expect(page.locator('header .who')).toHaveAttribute('title', email);
}

/** Waits until the WebAssembly client has taken over the page. */
export async function waitForHydration(page: Page) {
  await expect(page.locator('header[data-hydrated="true"]')).toHaveCount(1);
}

/** Collects console errors, so a page that throws while hydrating fails its test. A refusal
 * the page shows (a 4xx answer to a server function) is expected, not an error. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    const refusal = /Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text());
    if (msg.type() === 'error' && !refusal) errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  return errors;
}

/** The row of the newest job in the jobs table. */
export function newestJobRow(page: Page) {
  return page.locator('table.jobs tbody tr[data-job-id]').first();
}

/** Asserts cells of the newest job row, by column header, waiting for the table to show them
 * (the page may still be rendering or catching up with live updates). */
export async function expectNewestJob(page: Page, expected: Record<string, string>) {
  const headers = page.locator('table.jobs thead th');
  await expect(headers.first()).toBeVisible();
  const names = (await headers.allTextContents()).map((h) => h.trim());
  const row = newestJobRow(page);
  for (const [name, value] of Object.entries(expected)) {
    const column = names.indexOf(name);
    expect(column, `the jobs table has a column ${name}`).toBeGreaterThanOrEqual(0);
    await expect(row.locator('td').nth(column)).toHaveText(value);
  }
}

/** As an admin on `page`, switches the seeded grant Sam → Customers to `mode` ("On behalf of" or "Full"). */
export async function setSamsGrant(page: Page, mode: string) {
  await page.goto('/admin/grants');
  await waitForHydration(page);
  const row = page.locator('table.grants tr', { hasText: 'Sam Sales (sam@tshirts.example)' });
  await row.getByLabel('Mode').selectOption({ label: mode });
  await row.getByRole('button', { name: 'Save' }).click();
  await expect(row.locator('td.grant-mode')).toHaveText(mode);
}

/** Starts impersonating with the picker under the top bar. */
export async function pick(page: Page, who: string, reason: string) {
  await waitForHydration(page);
  await page.locator('#picker-user').selectOption({ label: who });
  await page.getByLabel('Reason').fill(reason);
  await page.getByRole('button', { name: 'Impersonate selected' }).click();
}
