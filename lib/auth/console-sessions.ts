import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Console session tokens: 32 random bytes in an HttpOnly cookie, stored only as their sha256.
 * The CSRF token is derived from the session token (a different hash of it), so the server
 * checks it without storing it, and a page that cannot read the cookie cannot compute it.
 */
export const SESSION_COOKIE = 'conveyor_session';
export const CSRF_HEADER = 'x-csrf-token';
/** DESIGN.md: a session ends 12 h after sign-in. */
export const SESSION_TTL_SECONDS = 12 * 60 * 60;

export function generateSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSessionToken(token: string): Buffer {
  return createHash('sha256').update(`session\0${token}`, 'utf8').digest();
}

export function csrfTokenFor(token: string): string {
  return createHash('sha256').update(`csrf\0${token}`, 'utf8').digest('base64url');
}

export function csrfMatches(token: string, sent: string | undefined): boolean {
  if (!sent) return false;
  const want = Buffer.from(csrfTokenFor(token));
  const got = Buffer.from(sent);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** A cookie token as we issue them (43 base64url characters): anything else is refused unread. */
export function isWellFormedToken(token: string | undefined): token is string {
  return token !== undefined && /^[A-Za-z0-9_-]{43}$/.test(token);
}
