import type { Context, MiddlewareHandler } from 'hono';
import { findActiveKeyByHash, touchKey, type KeyPrincipal, type Principal } from '../../../db/api-keys.js';
import type { Database } from '../../../db/database.js';
import type { Role } from '../../../db/types.js';
import { hashSecret, hashesEqual, roleAllows } from '../../../lib/auth/api-keys.js';
import { forbidden, unauthorized } from '../../../lib/errors.js';
import type { ApiEnv } from '../context.js';
import { lookupsFor } from '../lookups.js';
import { sessionCaller, sessionToken } from './session-auth.js';

/** Reads a key from `Authorization: Bearer <key>`, or, when `allowBasic`, the password of HTTP Basic. */
export function keyFromHeader(header: string | undefined, allowBasic = false): string | undefined {
  if (!header) return undefined;
  const [scheme, value, ...rest] = header.trim().split(/\s+/);
  if (!value || rest.length > 0) return undefined;
  if (scheme?.toLowerCase() === 'bearer') return value;
  if (allowBasic && scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}

export async function authenticate(db: Database, secret: string | undefined, find = (hash: Buffer) => findActiveKeyByHash(db, hash)): Promise<KeyPrincipal | undefined> {
  if (!secret || secret.length > 256) return undefined;
  const hash = hashSecret(secret);
  const principal = await find(hash);
  // The lookup is by hash, so this compare is belt and braces against index-timing games.
  return principal && hashesEqual(principal.secretHash, hash) ? principal : undefined;
}

/**
 * The authenticated key of a request, kept out of the context until a role check publishes it:
 * a handler reached without `requireRole` has no `principal`, so it cannot act for a workspace.
 */
const callers = new WeakMap<Context, Principal>();

export function callerOf(c: Context<ApiEnv>): Principal | undefined {
  return callers.get(c);
}

/** last_used_at has minute resolution: each process writes it at most once a minute per key. */
const TOUCH_EVERY_MS = 60_000;

/** Every /v1 route: a valid, unrevoked key or 401, looked up on every request (concurrent lookups share a statement). */
export function requireKey(db: Database): MiddlewareHandler<ApiEnv> {
  const touched = new Map<string, number>();
  const { key } = lookupsFor(db);
  return async (c, next) => {
    const header = c.req.header('authorization');
    // The console's cookie stands in for a key only when no Authorization header is sent.
    const cookie = header === undefined ? sessionToken(c) : undefined;
    const principal = cookie !== undefined ? await sessionCaller(db, c, cookie) : await authenticate(db, keyFromHeader(header), key);
    if (!principal) throw unauthorized();
    // The request's logger binds keyId and workspaceId from here on (request-context.ts).
    callers.set(c, principal);
    const now = Date.now();
    const keyId = principal.keyId;
    if (keyId && (touched.get(keyId) ?? 0) < now - TOUCH_EVERY_MS) {
      if (touched.size > 10_000) touched.clear();
      touched.set(keyId, now);
      void touchKey(db, keyId).catch(() => {});
    }
    await next();
  };
}

/** Declared on every route through `defineRoute`: the role a key needs. */
export function requireRole(role: Role): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const principal = callers.get(c);
    if (!principal) throw unauthorized();
    if (!roleAllows(principal.role, role)) throw forbidden(`This needs the ${role} role; your key is ${principal.role}.`);
    c.set('principal', principal);
    await next();
  };
}
