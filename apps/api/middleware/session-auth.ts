import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { findActiveSession, type SessionPrincipal } from '../../../db/console-sessions.js';
import type { Database } from '../../../db/database.js';
import { CSRF_HEADER, SESSION_COOKIE, csrfMatches, hashSessionToken, isWellFormedToken } from '../../../lib/auth/console-sessions.js';
import { AppError, unauthorized } from '../../../lib/errors.js';
import type { ApiEnv } from '../context.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const sessionEnded = () => unauthorized('Your console session has ended (signed out, expired or its key revoked): sign in again.');
export const csrfRefused = () =>
  new AppError(403, 'csrf_failed', `A request signed in by the console cookie must carry the ${CSRF_HEADER} header from GET /ui/session.`);

/** The session cookie's token, when the request carries one. */
export function sessionToken(c: Context<ApiEnv>): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

/** The live session behind a cookie token, or undefined. A malformed token costs no query. */
export async function findSession(db: Database, token: string | undefined): Promise<SessionPrincipal | undefined> {
  return isWellFormedToken(token) ? findActiveSession(db, hashSessionToken(token)) : undefined;
}

/**
 * A /v1 request authenticated by the console's cookie: the session must be live, and anything
 * but a read must carry the CSRF token, which a cross-site page can neither read nor compute
 * (SameSite=Strict already keeps the cookie off cross-site requests; this also covers
 * same-site pages on sibling origins and old browsers).
 */
export async function sessionCaller(db: Database, c: Context<ApiEnv>, token: string): Promise<SessionPrincipal> {
  const principal = await findSession(db, token);
  if (!principal) throw sessionEnded();
  if (!SAFE_METHODS.has(c.req.method) && !csrfMatches(token, c.req.header(CSRF_HEADER))) throw csrfRefused();
  return principal;
}
