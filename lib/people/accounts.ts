import { z } from 'zod';
import type { Database } from '../../db/database.js';
import { insertInvitation, insertPasswordReset, peekInvitation, takeInvitation, takePasswordReset, type Taken } from '../../db/one-time-links.js';
import { clearSignInFailures, recordSignInFailure, signInBlockedFor } from '../../db/sign-in-failures.js';
import type { Role } from '../../db/types.js';
import { ensureUser, findUserByEmail, setPassword, upsertMembership, type UserRow } from '../../db/users.js';
import { AppError, badRequest, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Mailer } from './mailer.js';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import { hashToken, isWellFormedLinkToken, newToken } from './tokens.js';

/** DESIGN.md, "People": the lifetimes of links and the sign-in limits. */
export const INVITATION_TTL_SECONDS = 72 * 3600;
export const RESET_TTL_SECONDS = 30 * 60;
export const SIGN_IN_LIMIT = 10;
export const SIGN_IN_WINDOW_SECONDS = 15 * 60;

/** Emails compare whatever their case: stored and looked up lower-cased. */
export const emailSchema = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email({ error: 'must be an email address' }))
  .transform((s) => s.toLowerCase());

export interface PeopleDeps {
  db: Database;
  log: Logger;
  mailer?: Mailer;
  /** PUBLIC_URL, else http://localhost:$PORT: links in mail never come from a request's Host. */
  publicUrl: string;
}

const gone = (what: string) => new AppError(410, 'link_expired', `This ${what} link was already used or has expired; ask for a new one.`);

function linkOutcome<T>(taken: Taken<T>, what: string): T {
  if (taken.ok) return taken.row;
  throw taken.reason === 'spent' ? gone(what) : notFound(`${what} link`);
}

function requirePassword(password: string): void {
  const problem = passwordProblem(password);
  if (problem) throw badRequest(`password ${problem}`, [{ pointer: '/password', message: problem }]);
}

export async function invite(
  deps: PeopleDeps,
  i: { workspaceId: string; workspaceName: string; email: string; role: Role; byKey: string | null; byUser: string | null },
): Promise<{ id: string; expiresAt: Date; link?: string; mailed: boolean }> {
  const token = newToken();
  const row = await insertInvitation(deps.db, { ...i, tokenHash: hashToken('invite', token), ttlSeconds: INVITATION_TTL_SECONDS });
  const link = `${deps.publicUrl}/ui/invite/${token}`;
  if (!deps.mailer) return { id: row.id, expiresAt: row.expires_at, link, mailed: false };
  await deps.mailer.send({
    to: i.email,
    subject: `You are invited to Conveyor (${i.workspaceName})`,
    text: `You are invited to the Conveyor workspace "${i.workspaceName}" as ${i.role}.\n\nAccept within 72 hours: ${link}\n`,
  });
  return { id: row.id, expiresAt: row.expires_at, mailed: true };
}

/** What the accept page shows before the form is sent (the invited email, the workspace). */
export async function describeInvitation(db: Database, token: string) {
  if (!isWellFormedLinkToken(token)) throw notFound('invitation link');
  return linkOutcome(await peekInvitation(db, hashToken('invite', token)), 'invitation');
}

/**
 * Accepting creates the user with the given name and password. When the email already has an
 * account, the link alone proves nothing about who holds it (an admin may have it to pass on):
 * the person must be signed in as that account, or give its password; an account that only uses
 * single sign-on signs in with it first. Its name and password stay. A refusal spends nothing:
 * the link is taken in the same transaction.
 */
export async function acceptInvitation(db: Database, token: string, form: { name: string; password: string }, who: { signedInUserId?: string; client?: string } = {}) {
  if (!isWellFormedLinkToken(token)) throw notFound('invitation link');
  // Proving an existing account by its password is a sign-in: the same limits, or the link
  // would be a way to guess passwords without them.
  const peek = await peekInvitation(db, hashToken('invite', token));
  const subjects = peek.ok ? [`account:${peek.row.email}`, `client:${who.client ?? 'unknown'}`] : [];
  const blocked = subjects.length ? await signInBlockedFor(db, subjects, SIGN_IN_LIMIT, SIGN_IN_WINDOW_SECONDS) : undefined;
  if (blocked !== undefined) {
    throw new AppError(429, 'too_many_attempts', `Too many failed sign-ins; try again in ${Math.ceil(blocked / 60)} min.`, undefined, { 'Retry-After': String(blocked) });
  }
  try {
    return await takeAndJoin(db, token, form, who.signedInUserId);
  } catch (err) {
    if (err instanceof AppError && err.code === 'wrong_password') await recordSignInFailure(db, subjects);
    throw err;
  }
}

function takeAndJoin(db: Database, token: string, form: { name: string; password: string }, signedInUserId: string | undefined) {
  return db.transaction().execute(async (tx) => {
    const invitation = linkOutcome(await takeInvitation(tx, hashToken('invite', token)), 'invitation');
    const existing = await findUserByEmail(tx, invitation.email);
    let user: Omit<UserRow, 'password_hash'>;
    if (existing) {
      if (existing.id !== signedInUserId) await proveAccount(existing, form.password);
      user = existing;
    } else {
      requirePassword(form.password);
      const made = await ensureUser(tx, { email: invitation.email, name: form.name, passwordHash: await hashPassword(form.password) });
      // Created by a concurrent sign-up between the lookup and the insert: accept it the next time, proven.
      if (!made.created) throw new AppError(409, 'conflict', 'An account with this email was just created: open the link again.');
      user = made.user;
    }
    await upsertMembership(tx, user.id, invitation.workspace_id, invitation.role);
    return { user: { id: user.id, email: user.email, name: user.name }, created: !existing, workspaceId: invitation.workspace_id, role: invitation.role };
  });
}

async function proveAccount(account: UserRow, password: string): Promise<void> {
  if (!account.password_hash) {
    throw badRequest(`${account.email} signs in with single sign-on: sign in with SSO, then open this link again.`, [{ pointer: '/password', message: 'this account has no password: sign in with SSO first' }], 'sign_in_first');
  }
  if (!(await verifyPassword(account.password_hash, password))) {
    throw badRequest(`${account.email} already has an account: enter its password (or sign in first) to join.`, [{ pointer: '/password', message: "is not this account's password" }], 'wrong_password');
  }
}

export type SignInResult = { ok: true; user: Omit<UserRow, 'password_hash'> } | { ok: false; retryAfter?: number };

/**
 * Email and password. A wrong email and a wrong password cost the same argon2 work and get the
 * same answer; failures count per account and per client address, shared by every web
 * process; past the limit even the right password is refused (429), so the limit is no oracle.
 */
export async function signInWithPassword(db: Database, attempt: { email: string; password: string; client: string }): Promise<SignInResult> {
  const email = emailSchema.safeParse(attempt.email);
  const account = `account:${email.success ? email.data : attempt.email.trim().toLowerCase().slice(0, 254)}`;
  const subjects = [account, `client:${attempt.client}`];
  const blocked = await signInBlockedFor(db, subjects, SIGN_IN_LIMIT, SIGN_IN_WINDOW_SECONDS);
  if (blocked !== undefined) return { ok: false, retryAfter: blocked };
  const user = email.success ? await findUserByEmail(db, email.data) : undefined;
  const ok = await verifyPassword(user?.password_hash, attempt.password);
  if (!ok || !user) {
    await recordSignInFailure(db, subjects);
    return { ok: false };
  }
  await clearSignInFailures(db, account);
  return { ok: true, user: { id: user.id, email: user.email, name: user.name } };
}

/**
 * Always answered the same way (202), whether the email is known or not; the work for a known
 * one (a token, a mail) runs after the answer, so its time tells nothing either.
 */
export function requestPasswordReset(deps: PeopleDeps, rawEmail: string): void {
  const email = emailSchema.safeParse(rawEmail);
  if (!email.success) return;
  void (async () => {
    const user = await findUserByEmail(deps.db, email.data);
    if (!user) return;
    if (!deps.mailer) {
      deps.log.warn({ userId: user.id }, 'password reset asked for, but SMTP_URL is not set: no link can be sent');
      return;
    }
    const token = newToken();
    await insertPasswordReset(deps.db, { userId: user.id, tokenHash: hashToken('reset', token), ttlSeconds: RESET_TTL_SECONDS });
    await deps.mailer.send({
      to: user.email,
      subject: 'Reset your Conveyor password',
      text: `Someone (we hope you) asked to reset the password of ${user.email}.\n\nSet a new one within 30 minutes: ${deps.publicUrl}/ui/password-reset/${token}\n\nIf it was not you, ignore this mail: nothing changes.\n`,
    });
  })().catch((err) => deps.log.warn({ err: (err as Error).message }, 'password reset mail failed'));
}

/** Sets the new password and ends every session of the user; the caller signs them in anew. */
export async function resetPassword(db: Database, token: string, password: string): Promise<{ userId: string }> {
  if (!isWellFormedLinkToken(token)) throw notFound('password reset link');
  requirePassword(password);
  const passwordHash = await hashPassword(password);
  return db.transaction().execute(async (tx) => {
    const reset = linkOutcome(await takePasswordReset(tx, hashToken('reset', token)), 'password reset');
    await setPassword(tx, reset.user_id, passwordHash);
    return { userId: reset.user_id };
  });
}
