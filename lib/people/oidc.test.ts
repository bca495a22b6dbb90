import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createPool, type Database } from '../../db/database.js';
import { createTestDatabase, type TestDatabase } from '../../test/database.js';
import { startOidcIssuer, type OidcIssuer, type Tamper } from '../../test/oidc-issuer.js';
import { testLogger } from '../../test/stack.js';
import { createOidc, OidcRefusal, type Oidc } from './oidc.js';
import { hashToken } from './tokens.js';

let database: TestDatabase;
let db: Database;
let issuer: OidcIssuer;
let oidc: Oidc;
const redirectUrl = 'http://127.0.0.1:1/ui/oidc/callback';

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(createPool({ connectionString: database.url, max: 5 }));
  issuer = await startOidcIssuer();
  oidc = createOidc(
    { issuer: issuer.url, clientId: issuer.clientId, clientSecret: issuer.clientSecret, redirectUrl, allowedDomains: ['example.test'], defaultRole: 'editor' },
    db,
    testLogger(),
    (state) => hashToken('oidc-state', state),
  );
});
afterAll(async () => {
  await issuer?.close();
  await db?.destroy();
  await database?.drop();
});

/** The browser's part: follow the redirect to the issuer, which answers with the callback URL. */
async function callbackQuery(): Promise<URLSearchParams> {
  const authorize = await oidc.start();
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorize.searchParams.get('redirect_uri')).toBe(redirectUrl);
  const res = await fetch(authorize, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(back.origin + back.pathname).toBe(redirectUrl);
  return back.searchParams;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (err) {
    if (err instanceof OidcRefusal) return err.code;
    throw err;
  }
}

const userCount = async () => Number((await db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

describe('OpenID Connect sign-in', () => {
  it('creates an unknown user with the default role, then matches them by verified email', async () => {
    const email = `ana.${randomBytes(3).toString('hex')}@Example.test`;
    issuer.nextUser = { sub: `s-${email}`, email, email_verified: true, name: 'Ana Lima' };
    const first = await oidc.finish(await callbackQuery());
    expect(first).toMatchObject({ created: true, role: 'editor', user: { email: email.toLowerCase(), name: 'Ana Lima' } });
    const again = await oidc.finish(await callbackQuery());
    expect(again).toMatchObject({ created: false, role: 'editor', user: { id: first.user.id } });
    const row = await db.selectFrom('users').select(['password_hash']).where('id', '=', first.user.id).executeTakeFirstOrThrow();
    expect(row.password_hash).toBeNull();
  });

  it('a replayed callback (the same state twice) is refused, and the code is never exchanged twice', async () => {
    issuer.nextUser = { sub: 'replay', email: `replay.${randomBytes(3).toString('hex')}@example.test`, email_verified: true };
    const query = await callbackQuery();
    await oidc.finish(query);
    const exchanged = issuer.tokenRequests.length;
    expect(await refusal(oidc.finish(query))).toBe('state_mismatch');
    expect(issuer.tokenRequests.length).toBe(exchanged);
  });

  it('a callback without a state, or with one this server never issued, is refused before any exchange', async () => {
    const exchanged = issuer.tokenRequests.length;
    expect(await refusal(oidc.finish(new URLSearchParams({ code: 'x' })))).toBe('state_mismatch');
    expect(await refusal(oidc.finish(new URLSearchParams({ code: 'x', state: randomBytes(16).toString('base64url') })))).toBe('state_mismatch');
    expect(issuer.tokenRequests.length).toBe(exchanged);
  });

  it.each(['wrong-key', 'wrong-audience', 'expired', 'wrong-nonce', 'wrong-issuer'] as Tamper[])('an id_token with %s is refused and creates nobody', async (tamper) => {
    issuer.nextUser = { sub: `t-${tamper}`, email: `${tamper}.${randomBytes(3).toString('hex')}@example.test`, email_verified: true };
    const before = await userCount();
    const query = await callbackQuery();
    issuer.tamper = tamper;
    try {
      expect(await refusal(oidc.finish(query))).toBe('token_invalid');
    } finally {
      issuer.tamper = undefined;
    }
    expect(await userCount()).toBe(before);
  });

  it('refuses an unverified email and another domain, creating nobody', async () => {
    const before = await userCount();
    issuer.nextUser = { sub: 'unverified', email: `u.${randomBytes(3).toString('hex')}@example.test`, email_verified: false };
    expect(await refusal(oidc.finish(await callbackQuery()))).toBe('email_unverified');
    issuer.nextUser = { sub: 'no-email' };
    expect(await refusal(oidc.finish(await callbackQuery()))).toBe('email_unverified');
    issuer.nextUser = { sub: 'elsewhere', email: 'mallory@evil.test', email_verified: true };
    expect(await refusal(oidc.finish(await callbackQuery()))).toBe('domain_not_allowed');
    expect(await userCount()).toBe(before);
  });

  it('an error answered by the provider is refused with its code', async () => {
    const authorize = await oidc.start();
    const query = new URLSearchParams({ error: 'access_denied', state: authorize.searchParams.get('state')! });
    expect(await refusal(oidc.finish(query))).toBe('provider_error');
  });
});
