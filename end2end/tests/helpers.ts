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

/** Column cells of a job row, by header name. */
export async function jobCells(page: Page) {
  const row = newestJobRow(page);
  const headers = await page.locator('table.jobs thead th').allTextContents();
  const cells = await row.locator('td').allTextContents();
  return Object.fromEntries(headers.map((h, i) => [h.trim(), (cells[i] ?? '').trim()]));
}
