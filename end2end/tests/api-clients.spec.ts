import { createHmac, randomUUID } from 'node:crypto';
import { test, expect, APIRequestContext } from '@playwright/test';
import { logIn, waitForHydration } from './helpers';

async function clientToken(request: APIRequestContext, clientId: string, secret: string) {
  return request.post('/v2/auth/token', {
    form: { grant_type: 'client_credentials', client_id: clientId, client_secret: secret },
  });
}

test('an admin creates, rotates and revokes an API client; the secret is shown once', async ({ page, request }) => {
  await logIn(page, 'alice@tshirts.example');
  await page.goto('/admin/api-clients');
  await waitForHydration(page);
  await expect(page.getByRole('heading', { name: 'Administration — API clients' })).toBeVisible();
  const demo = page.locator('table.clients tr', { hasText: 'tshirts-api-demo' });
  await expect(demo).toContainText('compatible');
  await expect(demo).toContainText('Alice Admin');

  await page.getByLabel('Name').fill('Nightly reports');
  await page.getByRole('button', { name: 'Create client' }).click();
  const secretBox = page.locator('section.secret');
  await expect(secretBox).toContainText('shown only once');
  const clientId = (await page.getByTestId('client-id').textContent())!.trim();
  const secret = (await page.getByTestId('client-secret').textContent())!.trim();
  expect(clientId).toMatch(/^nightly-reports-[0-9a-f]{8}$/);
  const row = page.locator('table.clients tr', { hasText: clientId });
  await expect(row).toContainText('strict');
  await expect(row).toContainText('Active');
  await page.screenshot({ path: 'test-results/admin-api-clients.png', fullPage: true });

  // The secret works at the token endpoint.
  const issued = await clientToken(request, clientId, secret);
  expect(issued.status()).toBe(200);
  const token = (await issued.json()).access_token;
  const whoami = await request.get('/v2/whoami', { headers: { Authorization: `Bearer ${token}` } });
  expect((await whoami.json()).email).toBe('alice@tshirts.example');

  // Rotating shows a new secret; the old one and its tokens stop working.
  await row.getByRole('button', { name: 'Rotate secret' }).click();
  await expect(page.getByTestId('client-secret')).not.toHaveText(secret);
  const rotated = (await page.getByTestId('client-secret').textContent())!.trim();
  expect((await clientToken(request, clientId, secret)).status()).toBe(401);
  expect((await request.get('/v2/whoami', { headers: { Authorization: `Bearer ${token}` } })).status()).toBe(401);
  expect((await clientToken(request, clientId, rotated)).status()).toBe(200);

  // Revoking ends it for good.
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row).toContainText('Revoked');
  await expect(page.locator('section.secret')).toHaveCount(0);
  const refused = await clientToken(request, clientId, rotated);
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error).toBe('invalid_client');
  await page.screenshot({ path: 'test-results/admin-api-clients-revoked.png', fullPage: true });
});

test("another admin may revoke a client but never obtain its secret", async ({ page }) => {
  await logIn(page, 'bob@tshirts.example');
  await page.goto('/admin/api-clients');
  await waitForHydration(page);
  const demo = page.locator('table.clients tr', { hasText: 'tshirts-api-demo' });
  await expect(demo).toContainText('Alice Admin');
  await expect(demo.getByRole('button', { name: 'Revoke' })).toBeVisible();
  await expect(demo.getByRole('button', { name: 'Rotate secret' })).toHaveCount(0);
  await page.screenshot({ path: 'test-results/admin-api-clients-other-owner.png', fullPage: true });
});

test('members cannot open API clients', async ({ page }) => {
  await logIn(page, 'u1@tshirts.example');
  await page.goto('/admin/api-clients');
  await expect(page.getByRole('alert')).toContainText('you may not open Administration');
});

/** A JWT signed with HS256, as an API client signs its subject tokens. */
function hs256(claims: object, kid: string, secret: string) {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT', kid })}.${part(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

test("an API impersonation shows on the user's My activity", async ({ page, request }) => {
  const actor = (await (await clientToken(request, 'tshirts-api-demo', 'guise-demo-client-secret')).json()).access_token;
  const exchanged = await request.post('/v2/auth/token', {
    headers: { Authorization: `Bearer ${actor}` },
    form: {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: hs256({ sub: 'dave@tshirts.example', jti: randomUUID() }, 'tshirts-api-demo', 'guise-demo-client-secret'),
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      actor_token: actor,
      actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    },
  });
  expect(exchanged.status()).toBe(200);
  const token = (await exchanged.json()).access_token;
  const whoami = await (await request.get('/v2/whoami', { headers: { Authorization: `Bearer ${token}` } })).json();
  expect(whoami.email).toBe('dave@tshirts.example');
  expect(whoami.impersonatedBy.email).toBe('alice@tshirts.example');

  await logIn(page, 'dave@tshirts.example');
  await page.goto('/account/activity');
  const card = page.locator('section.activity', { hasText: 'through API client tshirts-api-demo' });
  await expect(card).toContainText('Alice Admin');
  await expect(card).toContainText('api.token_exchange');
  await expect(card).toContainText('GET /v2/whoami');
  await page.screenshot({ path: 'test-results/activity-api.png', fullPage: true });
});
