import { randomBytes } from 'node:crypto';
import { serve, type ServerType } from '@hono/node-server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/free-port.js';
import { chromiumOrSkip, launchChromiumBrowser } from './browser.js';
import { startOidcIssuer, type OidcIssuer } from './oidc-issuer.js';
import { peopleEnv } from './people-env.js';
import { startSmtpSink, type SmtpSink } from './smtp-sink.js';
import { startStack, type TestStack } from './stack.js';

/**
 * The console's people pages in headless Chromium, over real HTTP, with a real SMTP sink and a
 * local OpenID provider: invitations, sign-in by password and by SSO, password reset, the
 * account page, the members page, and sessions that end when they should. One person's story,
 * so the tests run in order and share state.
 */
const chrome = chromiumOrSkip();
const PASSWORD = 'a long enough password';
const NEW_PASSWORD = 'the second long password';

describe.skipIf(!chrome)('people in the console', () => {
  let stack: TestStack;
  let server: ServerType;
  let base: string;
  let smtp: SmtpSink;
  let issuer: OidcIssuer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const email = `ana.${randomBytes(3).toString('hex')}@example.test`;
  /** The admin's page (an API-key session) and the invited person's. */
  let admin: Page;
  let ana: Page;

  beforeAll(async () => {
    smtp = await startSmtpSink();
    issuer = await startOidcIssuer();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    stack = await startStack({
      workers: false,
      env: peopleEnv({ base, smtp, issuer }),
    });
    server = serve({ fetch: stack.app.fetch, port, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    browser = await launchChromiumBrowser(chrome!);
    admin = await freshPage();
    ana = await freshPage();
  });
  // Every sign-in comes from 127.0.0.1: one test's failures must not limit the next's.
  beforeEach(async () => {
    await stack.db.deleteFrom('sign_in_failures').execute();
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await stack?.close();
    await smtp?.close();
    await issuer?.close();
  });

  /** A separate browser profile: its own cookies, like another device. */
  async function freshPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    // Shorter than the test's own timeout: a missing element fails naming its locator.
    context.setDefaultTimeout(10_000);
    return context.newPage();
  }

  async function signInWithKey(page: Page, key: string) {
    await page.goto(`${base}/ui/`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  async function signInWithPassword(page: Page, who: string, password: string) {
    await page.goto(`${base}/ui/`);
    await page.getByLabel('Email', { exact: true }).fill(who);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  /** The runs list re-reads every 2 s: an ended session shows the sign-in form with a message. */
  async function expectSignedOutScreen(page: Page) {
    await page.getByLabel('API key').waitFor({ timeout: 10_000 });
    expect(await page.getByRole('status').textContent()).toContain('session has ended');
  }

  const userId = async (who: string) => (await stack.db.selectFrom('users').select('id').where('email', '=', who).executeTakeFirstOrThrow()).id;

  it('an admin invites a person on the members page; the mailed link opened in a fresh browser signs them in', async () => {
    await signInWithKey(admin, stack.adminKey);
    await admin.getByRole('link', { name: 'Members' }).click();
    await admin.getByRole('heading', { name: 'Members' }).waitFor();
    // A malformed email: an error beside the field, nothing sent.
    await admin.getByLabel('Email', { exact: true }).fill('not an email');
    await admin.getByLabel('Role', { exact: true }).selectOption('editor');
    await admin.getByRole('button', { name: 'Invite', exact: true }).click();
    await admin.locator('#invite-email-error').waitFor();
    expect(await admin.getByLabel('Email', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    expect(smtp.mails).toEqual([]);

    await admin.getByLabel('Email', { exact: true }).fill(email);
    await admin.getByRole('button', { name: 'Invite', exact: true }).click();
    await admin.getByRole('status').getByText(`Invitation mailed to ${email} as editor`).waitFor();
    const mail = await smtp.mailTo(email, /ui\/invite/);
    const link = new RegExp(`${base}/ui/invite/([A-Za-z0-9_-]{43})`).exec(mail.text);
    expect(link, mail.text).not.toBeNull();
    const token = link![1]!;

    // Everything the page asks for, and what it sends as Referer: the token goes to our API only.
    const requests: { url: string; referer: string | undefined }[] = [];
    ana.on('request', (r) => void requests.push({ url: r.url(), referer: r.headers().referer }));
    const opened = await ana.goto(link![0]);
    expect(opened!.headers()['referrer-policy']).toBe('no-referrer');
    await ana.getByText(email).waitFor();
    await ana.getByText(/workspace .* as editor/).waitFor();
    // Too short a password: the server's reason beside the field, no account made.
    await ana.getByLabel('Your name').fill('Ana Person');
    await ana.getByLabel('Password', { exact: true }).fill('short');
    await ana.getByRole('button', { name: 'Accept invitation' }).click();
    expect(await ana.locator('#new-password-error').textContent()).toContain('at least 12 characters');
    expect(await ana.getByLabel('Password', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    expect(await stack.db.selectFrom('users').select('id').where('email', '=', email).execute()).toEqual([]);

    await ana.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await ana.getByRole('button', { name: 'Accept invitation' }).click();
    await ana.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(ana.url()).toBe(`${base}/ui/`);
    await ana.getByRole('heading', { name: 'Runs' }).waitFor();
    // An editor: no Members link.
    expect(await ana.getByRole('link', { name: 'Members' }).count()).toBe(0);
    const withToken = requests.filter((r) => r.url.includes(token)).map((r) => new URL(r.url).pathname);
    expect(withToken.every((p) => p === `/ui/invite/${token}` || p === `/ui/invite/${token}/info`)).toBe(true);
    expect(requests.filter((r) => r.referer?.includes(token))).toEqual([]);

    // The link works once: opened again it says so.
    const again = await freshPage();
    await again.goto(link![0]);
    await again.getByText('This link was used or has expired').waitFor();
    expect(await again.getByRole('button', { name: 'Accept invitation' }).count()).toBe(0);
  });

  it('signs out, and back in with email and password; a wrong password and too many tries say so', async () => {
    await ana.getByRole('button', { name: 'Sign out' }).click();
    await ana.getByLabel('Email', { exact: true }).waitFor();
    await signInWithPassword(ana, email, 'not the password at all');
    const alert = ana.locator('#password-error');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('Wrong email or password.');
    expect(await ana.getByLabel('Email', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await ana.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await ana.getByRole('button', { name: 'Sign in', exact: true }).click();
    await ana.getByRole('button', { name: 'Sign out' }).waitFor();

    // Failures for the account (from anywhere) until the limit: the form then shows the wait, even for the right password.
    const statuses: number[] = [];
    while (statuses.length < 12 && statuses.at(-1) !== 429) {
      const res = await fetch(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: `wrong ${statuses.length} password` }) });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.at(-1)).toBe(429);
    const other = await freshPage();
    await signInWithPassword(other, email, PASSWORD);
    await other.locator('#password-error').waitFor();
    expect(await other.locator('#password-error').textContent()).toMatch(/^Too many failed sign-ins: wait \d+ (min|s), then try again\.$/);
    expect(await other.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
  });

  it('the account page renames, changes the password (ending other sessions) and ends another session', async () => {
    // A second device, left on the runs list.
    const laptop = await freshPage();
    await signInWithPassword(laptop, email, PASSWORD);
    await laptop.getByRole('heading', { name: 'Runs' }).waitFor();

    await ana.getByRole('link', { name: 'Account' }).click();
    await ana.getByRole('heading', { name: 'Account' }).waitFor();
    await ana.getByText(`Ana Person <${email}>`).waitFor();
    await ana.getByRole('textbox', { name: 'Name', exact: true }).fill('Ana Renamed');
    await ana.getByRole('button', { name: 'Save name' }).click();
    await ana.getByText('Name saved.').waitFor();
    await ana.getByText(`Ana Renamed <${email}>`).waitFor();
    expect((await stack.db.selectFrom('users').select('name').where('email', '=', email).executeTakeFirstOrThrow()).name).toBe('Ana Renamed');

    await ana.getByLabel('Current password').fill('not the password at all');
    await ana.getByLabel('New password').fill(NEW_PASSWORD);
    await ana.getByRole('button', { name: 'Change password' }).click();
    await ana.locator('#current-password-error').waitFor();
    expect(await ana.getByLabel('Current password').getAttribute('aria-invalid')).toBe('true');

    await ana.getByLabel('Current password').fill(PASSWORD);
    await ana.getByRole('button', { name: 'Change password' }).click();
    await ana.getByText('Password changed.').waitFor();
    await expectSignedOutScreen(laptop);
    // This page stays signed in.
    await ana.reload();
    await ana.getByRole('heading', { name: 'Account' }).waitFor();

    // A third device signs in with the new password; it is ended from the sessions list.
    const phone = await freshPage();
    await signInWithPassword(phone, email, NEW_PASSWORD);
    await phone.getByRole('heading', { name: 'Runs' }).waitFor();
    await ana.reload();
    const rows = ana.locator('tr[data-session-id]');
    await expect.poll(() => rows.count()).toBe(2);
    await ana.locator('tr[data-current="true"]').getByText('current').waitFor();
    expect(await ana.locator('tr[data-current="true"]').getByRole('button', { name: /End/ }).count()).toBe(0);
    await ana.locator('tr:not([data-current])[data-session-id]').getByRole('button', { name: /End/ }).click();
    await expect.poll(() => rows.count()).toBe(1);
    await expectSignedOutScreen(phone);
  });

  it('a forgotten password: the reset link sets a new one and signs in', async () => {
    const page = await freshPage();
    await page.goto(`${base}/ui/`);
    await page.getByRole('button', { name: 'Forgot password?' }).click();
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await page.getByRole('status').getByText('a link to set a new password is on its way').waitFor();
    const mail = await smtp.mailTo(email, /password-reset/);
    const link = new RegExp(`${base}/ui/password-reset/([A-Za-z0-9_-]{43})`).exec(mail.text)!;
    await page.goto(link[0]);
    await page.getByLabel('New password').fill('short');
    await page.getByRole('button', { name: 'Set password' }).click();
    expect(await page.locator('#new-password-error').textContent()).toContain('at least 12 characters');
    await page.getByLabel('New password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(page.url()).toBe(`${base}/ui/`);
    // Every other session ended, Ana's first page among them.
    await ana.goto(`${base}/ui/`);
    await ana.getByLabel('API key').waitFor();
    ana = page;
  });

  it('"Sign in with SSO" completes through the identity provider; a viewer sees no Members link', async () => {
    const ssoEmail = `sso.${randomBytes(3).toString('hex')}@example.test`;
    issuer.nextUser = { sub: `sub-${ssoEmail}`, email: ssoEmail, email_verified: true, name: 'Sso Person' };
    const page = await freshPage();
    await page.goto(`${base}/ui/`);
    await page.getByRole('link', { name: 'Sign in with SSO' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(page.url()).toBe(`${base}/ui/`);
    expect(await page.locator('.role').textContent()).toBe('viewer');
    expect(await page.getByRole('link', { name: 'Members' }).count()).toBe(0);
    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByText(`Sso Person <${ssoEmail}>`).waitFor();
    await page.goto(`${base}/ui/members`);
    await page.getByText('Only admins see the members.').waitFor();
    expect(await page.getByRole('button', { name: 'Invite' }).count()).toBe(0);
  });

  it('a person in two workspaces switches between them on the account page', async () => {
    const api = (path: string, key: string, body: unknown) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const ws = await api('/v1/workspaces', stack.adminKey, { name: `second-${randomBytes(3).toString('hex')}` });
    expect(ws.status).toBe(201);
    expect((await api('/v1/invitations', ws.body.apiKey.secret, { email, role: 'admin' })).status).toBe(201);
    const mail = await smtp.mailTo(email, new RegExp(ws.body.name));
    // Opened while signed in: accepting signs in to the new workspace.
    await ana.goto(new RegExp(`${base}/ui/invite/[A-Za-z0-9_-]{43}`).exec(mail.text)![0]);
    await ana.getByText(new RegExp(`workspace ${ws.body.name} as admin`)).waitFor();
    await ana.getByLabel('Your name').fill('Ana Renamed');
    await ana.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await ana.getByRole('button', { name: 'Accept invitation' }).click();
    await ana.getByRole('link', { name: 'Members' }).waitFor();
    expect(await ana.locator('.role').textContent()).toBe('admin');

    await ana.getByRole('link', { name: 'Account' }).click();
    const select = ana.getByRole('combobox', { name: 'Workspace' });
    await select.waitFor();
    expect(await select.locator('option').count()).toBe(2);
    await select.selectOption({ label: 'default (editor)' });
    await ana.getByRole('button', { name: 'Switch workspace' }).click();
    await expect.poll(() => ana.locator('.role').textContent()).toBe('editor');
    expect(await ana.getByRole('link', { name: 'Members' }).count()).toBe(0);
    expect(await ana.locator('dl.facts').textContent()).toContain('default');
  });

  it('an API-key session: the account page names the key and has no person-only parts', async () => {
    await admin.getByRole('link', { name: 'Account' }).click();
    await admin.getByText(/API key \w+/).waitFor();
    await admin.getByRole('heading', { name: 'Sessions' }).waitFor();
    for (const name of ['Your name', 'Change password', 'Workspace']) expect(await admin.getByRole('heading', { name, exact: true }).count()).toBe(0);
    expect(await admin.getByLabel('Current password').count()).toBe(0);
    // At phone width the new pages scroll their tables inside their own boxes, never the page.
    await admin.setViewportSize({ width: 390, height: 844 });
    try {
      for (const path of ['/ui/account', '/ui/members']) {
        await admin.goto(`${base}${path}`);
        await admin.locator('main h1').waitFor();
        await admin.locator('tbody tr').first().waitFor();
        const wide = await admin.evaluate(() => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 390 && !e.parentElement?.closest('.table-scroll')).map((e) => e.outerHTML.slice(0, 120)));
        expect(await admin.evaluate(() => document.documentElement.scrollWidth), `${path}: ${wide.join('\n')}`).toBeLessThanOrEqual(390);
      }
      await admin.context().clearCookies();
      await admin.goto(`${base}/ui/`);
      await admin.getByLabel('Email', { exact: true }).waitFor();
      expect(await admin.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    } finally {
      await admin.setViewportSize({ width: 1280, height: 800 });
    }
    await signInWithKey(admin, stack.adminKey);
  });

  it('the members page changes a role and removes a member, whose open page then loses its session', async () => {
    await ana.goto(`${base}/ui/`);
    await ana.getByRole('heading', { name: 'Runs' }).waitFor();
    await admin.getByRole('link', { name: 'Members' }).click();
    const row = admin.locator(`tr[data-member="${email}"]`);
    await row.getByText('Ana Renamed').waitFor();
    expect(await row.getByLabel(`Role of ${email}`).inputValue()).toBe('editor');
    await row.getByLabel(`Role of ${email}`).selectOption('viewer');
    await row.getByRole('button', { name: 'Save role' }).click();
    await admin.getByRole('status').getByText(`${email} is now viewer.`).waitFor();
    const id = await userId(email);
    const { workspace_id } = await stack.db.selectFrom('api_keys').select('workspace_id').executeTakeFirstOrThrow();
    const here = () => stack.db.selectFrom('memberships').select('role').where('user_id', '=', id).where('workspace_id', '=', workspace_id).execute();
    expect(await here()).toEqual([{ role: 'viewer' }]);
    await ana.reload();
    await ana.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await ana.locator('.role').textContent()).toBe('viewer');

    // Remove asks first; "Keep" changes nothing.
    await row.getByRole('button', { name: `Remove ${email}` }).click();
    await row.getByRole('button', { name: 'Keep' }).click();
    expect(await here()).toHaveLength(1);
    await row.getByRole('button', { name: `Remove ${email}` }).click();
    await row.getByRole('button', { name: 'Yes, remove' }).click();
    await admin.getByRole('status').getByText(`${email} was removed`).waitFor();
    await expect.poll(() => admin.locator(`tr[data-member="${email}"]`).count()).toBe(0);
    expect(await here()).toEqual([]);
    await expectSignedOutScreen(ana);
  });
});

describe.skipIf(!chrome)('people in the console without a mail server or single sign-on', () => {
  let stack: TestStack;
  let server: ServerType;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    stack = await startStack({ workers: false, env: { PUBLIC_URL: base } });
    server = serve({ fetch: stack.app.fetch, port, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    browser = await launchChromiumBrowser(chrome!);
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await stack?.close();
  });

  it('offers no SSO or reset; an invitation shows its link to copy, and that link works once', async () => {
    const admin = await (await browser.newContext()).newPage();
    admin.context().setDefaultTimeout(10_000);
    // The options arrive after the first paint: wait for them, then check what is offered.
    const options = admin.waitForResponse((r) => r.url().endsWith('/ui/sign-in-options'));
    await admin.goto(`${base}/ui/`);
    expect(await (await options).json()).toMatchObject({ sso: false, passwordReset: false });
    await admin.getByLabel('Email', { exact: true }).waitFor();
    expect(await admin.getByRole('link', { name: 'Sign in with SSO' }).count()).toBe(0);
    expect(await admin.getByRole('button', { name: 'Forgot password?' }).count()).toBe(0);
    await admin.getByLabel('API key').fill(stack.adminKey);
    await admin.getByRole('button', { name: 'Sign in', exact: true }).click();
    await admin.getByRole('link', { name: 'Members' }).click();
    const email = `bo.${randomBytes(3).toString('hex')}@example.test`;
    await admin.getByLabel('Email', { exact: true }).fill(email);
    await admin.getByRole('button', { name: 'Invite', exact: true }).click();
    const link = await admin.getByLabel('Invitation link').inputValue();
    expect(link).toMatch(new RegExp(`^${base}/ui/invite/[A-Za-z0-9_-]{43}$`));
    expect(await admin.getByRole('status').textContent()).toContain('nothing was sent');
    await admin.getByRole('button', { name: 'Copy link' }).waitFor();

    const bo = await (await browser.newContext()).newPage();
    bo.context().setDefaultTimeout(10_000);
    await bo.goto(link);
    await bo.getByText(email).waitFor();
    await bo.getByText(/as viewer/).waitFor();
    await bo.getByLabel('Your name').fill('Bo');
    await bo.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await bo.getByRole('button', { name: 'Accept invitation' }).click();
    await bo.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await bo.locator('.role').textContent()).toBe('viewer');
    await bo.goto(link);
    await bo.getByText('This link was used or has expired').waitFor();
    await bo.goto(`${base}/ui/invite/${'x'.repeat(43)}`);
    await bo.getByText('This link is not one we know').waitFor();
    await bo.goto(`${base}/ui/password-reset/${'y'.repeat(43)}`);
    await bo.getByLabel('New password').fill(PASSWORD);
    await bo.getByRole('button', { name: 'Set password' }).click();
    await bo.getByText('This link is not one we know').waitFor();
  });
});
