import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createPool, type Database } from '../../db/database.js';
import { ensureDefaultWorkspace } from '../../db/workspaces.js';
import { createTestDatabase, type TestDatabase } from '../../test/database.js';
import { startSmtpSink, type SmtpSink } from '../../test/smtp-sink.js';
import { testLogger } from '../../test/stack.js';
import { AppError } from '../errors.js';
import { acceptInvitation, describeInvitation, invite, requestPasswordReset, resetPassword, signInWithPassword, SIGN_IN_LIMIT, type PeopleDeps } from './accounts.js';
import { createMailer } from './mailer.js';

let database: TestDatabase;
let db: Database;
let smtp: SmtpSink;
let workspace: { id: string; name: string };
let deps: PeopleDeps;
const log = testLogger();

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(createPool({ connectionString: database.url, max: 5 }));
  workspace = await ensureDefaultWorkspace(db);
  smtp = await startSmtpSink();
  deps = { db, log, mailer: createMailer({ SMTP_URL: smtp.url, MAIL_FROM: 'Conveyor <noreply@example.test>' }, log), publicUrl: 'https://conveyor.example.test' };
});
afterAll(async () => {
  deps?.mailer?.close();
  await smtp?.close();
  await db?.destroy();
  await database?.drop();
});

const email = () => `p${randomBytes(4).toString('hex')}@Example.TEST`;
const tokenOf = (link: string) => link.slice(link.lastIndexOf('/') + 1);
const GOOD = 'correct horse battery staple';

async function invited(address = email(), role: 'admin' | 'editor' | 'viewer' = 'editor') {
  const { link } = await invite({ ...deps, mailer: undefined }, { workspaceId: workspace.id, workspaceName: workspace.name, email: address.toLowerCase(), role, byKey: null, byUser: null });
  return tokenOf(link!);
}

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof AppError) return err.status;
    throw err;
  }
}

describe('invitations', () => {
  it('mails a one-time link built from PUBLIC_URL, or returns it when no mailer is configured', async () => {
    const to = email().toLowerCase();
    const mailed = await invite(deps, { workspaceId: workspace.id, workspaceName: workspace.name, email: to, role: 'viewer', byKey: null, byUser: null });
    expect(mailed).toMatchObject({ mailed: true });
    expect(mailed.link).toBeUndefined();
    const mail = await smtp.mailTo(to);
    expect(mail.text).toMatch(/https:\/\/conveyor\.example\.test\/ui\/invite\/[A-Za-z0-9_-]{43}/);
    const token = /ui\/invite\/([A-Za-z0-9_-]{43})/.exec(mail.text)![1]!;
    expect(await describeInvitation(db, token)).toEqual({ email: to, role: 'viewer', workspace_name: workspace.name });

    const direct = await invite({ ...deps, mailer: undefined }, { workspaceId: workspace.id, workspaceName: workspace.name, email: email().toLowerCase(), role: 'viewer', byKey: null, byUser: null });
    expect(direct).toMatchObject({ mailed: false, link: expect.stringMatching(/^https:\/\/conveyor\.example\.test\/ui\/invite\//) });
    // Only a hash is stored: the table cannot be turned into a link.
    const stored = await db.selectFrom('invitations').select('token_hash').execute();
    expect(stored.map((r) => r.token_hash.toString('base64url'))).not.toContain(tokenOf(direct.link!));
  });

  it('accepting creates the user and the membership once; a used link is 410, a forged one 404', async () => {
    const address = email();
    const token = await invited(address, 'editor');
    const accepted = await acceptInvitation(db, token, { name: 'Ana', password: GOOD });
    expect(accepted).toMatchObject({ created: true, role: 'editor', workspaceId: workspace.id, user: { email: address.toLowerCase(), name: 'Ana' } });
    expect(await status(acceptInvitation(db, token, { name: 'Eve', password: GOOD }))).toBe(410);
    expect(await status(describeInvitation(db, token))).toBe(410);
    expect(await status(acceptInvitation(db, randomBytes(32).toString('base64url'), { name: 'Eve', password: GOOD }))).toBe(404);
    expect(await status(acceptInvitation(db, 'not-a-token', { name: 'Eve', password: GOOD }))).toBe(404);
    const users = await db.selectFrom('users').select(['email', 'name']).where('email', '=', address.toLowerCase()).execute();
    expect(users).toEqual([{ email: address.toLowerCase(), name: 'Ana' }]);
  });

  it('two concurrent accepts of one link: one user, one success', async () => {
    const token = await invited();
    const outcomes = await Promise.all([0, 1, 2].map(() => status(acceptInvitation(db, token, { name: 'Racer', password: GOOD }))));
    expect(outcomes.sort()).toEqual([200, 410, 410]);
  });

  it('an expired link is 410; a bad password is 400 and spends nothing', async () => {
    const token = await invited();
    expect(await status(acceptInvitation(db, token, { name: 'Short', password: 'short' }))).toBe(400);
    expect(await status(acceptInvitation(db, token, { name: 'Long', password: 'x'.repeat(257) }))).toBe(400);
    expect(await status(describeInvitation(db, token))).toBe(200);
    await db.updateTable('invitations').set({ expires_at: sql<Date>`now() - interval '1 second'` }).where('used_at', 'is', null).execute();
    expect(await status(acceptInvitation(db, token, { name: 'Late', password: GOOD }))).toBe(410);
  });

  it('an invitation for an existing account needs that account: its password, or being signed in as it', async () => {
    const address = email();
    const { user } = await acceptInvitation(db, await invited(address, 'viewer'), { name: 'Bo', password: GOOD });
    const other = await db.insertInto('workspaces').values({ name: `w${randomBytes(3).toString('hex')}` }).returning(['id', 'name']).executeTakeFirstOrThrow();
    const inviteTo = async () => {
      const { link } = await invite({ ...deps, mailer: undefined }, { workspaceId: other.id, workspaceName: other.name, email: address.toLowerCase(), role: 'admin', byKey: null, byUser: null });
      return tokenOf(link!);
    };
    // Whoever holds the link (the inviting admin, say) cannot take the account over with a password of their choosing.
    const token = await inviteTo();
    const wrong = await acceptInvitation(db, token, { name: 'Mallory', password: 'a password of my own' }).catch((err: AppError) => err);
    expect(wrong).toMatchObject({ status: 400, code: 'wrong_password' });
    expect(await status(describeInvitation(db, token))).toBe(200); // nothing spent
    const joined = await acceptInvitation(db, token, { name: 'Not Bo', password: GOOD });
    expect(joined).toMatchObject({ created: false, role: 'admin', workspaceId: other.id, user: { id: user.id, name: 'Bo' } });
    expect((await signInWithPassword(db, { email: address, password: GOOD, client: '203.0.113.1' })).ok).toBe(true);
    // Signed in as the account already: no password needed.
    await db.deleteFrom('memberships').where('user_id', '=', user.id).where('workspace_id', '=', other.id).execute();
    expect(await acceptInvitation(db, await inviteTo(), { name: '', password: '' }, { signedInUserId: user.id })).toMatchObject({ created: false, workspaceId: other.id });
  });

  it('an account without a password (single sign-on) is asked to sign in first; wrong passwords count toward the sign-in limit', async () => {
    const address = email().toLowerCase();
    await db.insertInto('users').values({ email: address, name: 'Sso', password_hash: null }).execute();
    const token = await invited(address);
    expect(await acceptInvitation(db, token, { name: 'x', password: GOOD }).catch((err: AppError) => err)).toMatchObject({ status: 400, code: 'sign_in_first' });
    const pw = email();
    await acceptInvitation(db, await invited(pw), { name: 'Limited', password: GOOD });
    const again = await invited(pw);
    for (let i = 0; i < SIGN_IN_LIMIT; i += 1) await acceptInvitation(db, again, { name: 'x', password: `guess number ${i}` }, { client: `192.0.2.${i}` }).catch(() => undefined);
    expect(await acceptInvitation(db, again, { name: 'x', password: GOOD }, { client: '192.0.2.99' }).catch((err: AppError) => err)).toMatchObject({ status: 429, code: 'too_many_attempts' });
  });
});

describe('sign-in with a password', () => {
  it('matches emails whatever their case; a wrong email and a wrong password get the same answer and the same work', async () => {
    const address = email();
    await acceptInvitation(db, await invited(address), { name: 'Cy', password: GOOD });
    expect(await signInWithPassword(db, { email: `  ${address.toUpperCase()} `, password: GOOD, client: '198.51.100.7' })).toMatchObject({ ok: true, user: { email: address.toLowerCase() } });
    const timed = async (attempt: { email: string; password: string }) => {
      const started = performance.now();
      const result = await signInWithPassword(db, { ...attempt, client: `198.51.100.${Math.floor(Math.random() * 200)}` });
      return { result, ms: performance.now() - started };
    };
    const wrongPassword = [];
    const unknownEmail = [];
    await timed({ email: email(), password: 'warm the decoy hash' });
    for (let i = 0; i < 9; i += 1) {
      wrongPassword.push(await timed({ email: address, password: 'wrong password here' }));
      unknownEmail.push(await timed({ email: email(), password: 'wrong password here' }));
    }
    for (const attempt of [...wrongPassword, ...unknownEmail]) expect(attempt.result).toEqual({ ok: false });
    // Both paths do one argon2 verification (~25 ms here): without the decoy an unknown email
    // would answer in a fraction of that. Medians of interleaved tries, wide bounds: the machine is shared.
    const median = (xs: { ms: number }[]) => xs.map((x) => x.ms).sort((a, b) => a - b)[4]!;
    const ratio = median(unknownEmail) / median(wrongPassword);
    expect(ratio).toBeGreaterThan(0.4);
    expect(ratio).toBeLessThan(2.5);
  });

  it(`allows ${SIGN_IN_LIMIT} failures per account in 15 minutes; past them even the right password is 429-limited`, async () => {
    const address = email();
    await acceptInvitation(db, await invited(address), { name: 'Di', password: GOOD });
    for (let i = 0; i < SIGN_IN_LIMIT; i += 1) {
      // From many addresses: the account's own limit is what stops this.
      expect(await signInWithPassword(db, { email: address, password: `wrong ${i} password`, client: `192.0.2.${i}` })).toEqual({ ok: false });
    }
    const limited = await signInWithPassword(db, { email: address, password: GOOD, client: '192.0.2.200' });
    expect(limited.ok).toBe(false);
    expect(!limited.ok && limited.retryAfter).toBeGreaterThan(800);
    expect(!limited.ok && limited.retryAfter).toBeLessThanOrEqual(900);
    // The window slides: once the failures are older than 15 minutes, the right password works.
    await sql`update sign_in_failures set failed_at = failed_at - interval '15 minutes'`.execute(db);
    expect((await signInWithPassword(db, { email: address, password: GOOD, client: '192.0.2.200' })).ok).toBe(true);
  });

  it(`allows ${SIGN_IN_LIMIT} failures per client address, whatever accounts it tries`, async () => {
    const client = '2001:db8::66';
    for (let i = 0; i < SIGN_IN_LIMIT; i += 1) await signInWithPassword(db, { email: email(), password: 'guessing guessing', client });
    const address = email();
    await acceptInvitation(db, await invited(address), { name: 'Ed', password: GOOD });
    const limited = await signInWithPassword(db, { email: address, password: GOOD, client });
    expect(limited).toMatchObject({ ok: false, retryAfter: expect.any(Number) });
    expect((await signInWithPassword(db, { email: address, password: GOOD, client: '2001:db8::67' })).ok).toBe(true);
  });

  it('refuses malformed emails and over-long passwords like any wrong password', async () => {
    for (const attempt of [{ email: 'not an email', password: GOOD }, { email: `${'a'.repeat(300)}@x.test`, password: GOOD }, { email: email(), password: 'p'.repeat(100_000) }]) {
      expect(await signInWithPassword(db, { ...attempt, client: '192.0.2.250' })).toEqual({ ok: false });
    }
  });
});

describe('password reset', () => {
  it('mails a known email a 30-minute link; the reset ends every session; the link works once', async () => {
    const address = email();
    const { user } = await acceptInvitation(db, await invited(address), { name: 'Flo', password: GOOD });
    const session = await db
      .insertInto('console_sessions')
      .values({ token_hash: randomBytes(32), user_id: user.id, workspace_id: workspace.id, role: 'editor', expires_at: sql<Date>`now() + interval '1 hour'` })
      .returning('id')
      .executeTakeFirstOrThrow();
    requestPasswordReset(deps, address.toUpperCase());
    const mail = await smtp.mailTo(address.toLowerCase(), /password-reset/);
    const token = /ui\/password-reset\/([A-Za-z0-9_-]{43})/.exec(mail.text)![1]!;
    expect(await resetPassword(db, token, 'a brand new password')).toEqual({ userId: user.id });
    expect(await status(resetPassword(db, token, 'yet another password'))).toBe(410);
    const ended = await db.selectFrom('console_sessions').select('revoked_at').where('id', '=', session.id).executeTakeFirstOrThrow();
    expect(ended.revoked_at).not.toBeNull();
    expect((await signInWithPassword(db, { email: address, password: GOOD, client: '192.0.2.77' })).ok).toBe(false);
    expect((await signInWithPassword(db, { email: address, password: 'a brand new password', client: '192.0.2.77' })).ok).toBe(true);
  });

  it('an unknown or malformed email gets no mail and no row; a forged token is 404, a short password 400', async () => {
    const before = await db.selectFrom('password_resets').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
    const unknown = email().toLowerCase();
    requestPasswordReset(deps, unknown);
    requestPasswordReset(deps, 'not an email');
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.mails.some((m) => m.to.includes(unknown))).toBe(false);
    expect((await db.selectFrom('password_resets').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow()).n).toBe(before.n);
    expect(await status(resetPassword(db, randomBytes(32).toString('base64url'), 'a brand new password'))).toBe(404);
    expect(await status(resetPassword(db, randomBytes(32).toString('base64url'), 'short'))).toBe(400);
  });
});
