import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { insertSession, revokeSession } from '../../../db/console-sessions.js';
import { nodeQueueFor } from '../../../lib/engine/queues.js';
import { DEFAULT_NODE_QUEUE } from '../../../lib/jobs.js';
import {
  CSRF_HEADER,
  SESSION_COOKIE,
  SESSION_TTL_SECONDS,
  csrfMatches,
  csrfTokenFor,
  generateSessionToken,
  hashSessionToken,
} from '../../../lib/auth/console-sessions.js';
import { AppError, forbidden, unauthorized } from '../../../lib/errors.js';
import { BOARD_PATH } from '../board.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { defineRoute, ErrorSchema } from '../route.js';
import { authenticate } from '../middleware/auth.js';
import { jsonBodies } from '../middleware/body.js';
import { csrfRefused, findSession, sessionEnded, sessionToken } from '../middleware/session-auth.js';
import type { SessionPrincipal } from '../../../db/console-sessions.js';
import { membershipsOf } from '../../../db/users.js';
import { signInWithPassword } from '../../../lib/people/accounts.js';
import { PASSWORD_MAX } from '../../../lib/people/passwords.js';
import { clientKey } from '../../../lib/webhooks/rate-limit.js';
import { clientAddress } from '../client-address.js';
import type { StartSession } from './people-routes.js';

const signInBody = z.union([
  z.object({ apiKey: z.string().min(1, 'enter an API key').max(256).openapi({ description: 'an API key; exchanged, never stored in the browser' }) }).strict(),
  z.object({ email: z.string().min(1).max(320), password: z.string().min(1).max(PASSWORD_MAX * 4) }).strict(),
]);
const sessionJson = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });
const tags = ['console'];

// Public: these routes authenticate by the key in the body (sign-in) or by the session cookie.
const signIn = defineRoute('public', {
  method: 'post',
  path: '/ui/session',
  tags,
  summary: 'Console sign-in with an email and password, or an API key: an HttpOnly, SameSite=Strict session cookie (12 h); failed attempts are limited per account and per client address (429)',
  request: { body: { required: true, content: { 'application/json': { schema: signInBody } } } },
  responses: { 201: sessionJson('signed in: role, workspace, expiry and the CSRF token for mutations (sent as X-CSRF-Token)') },
});
const whoAmI = defineRoute('public', {
  method: 'get',
  path: '/ui/session',
  tags,
  summary: "The cookie's session: role, workspace, expiry and its CSRF token; 401 session_ended once it has ended",
  responses: { 200: sessionJson('the session'), 401: { description: 'not signed in, or the session ended (session_ended)', content: { 'application/json': { schema: ErrorSchema } } } },
});
const signOut = defineRoute('public', {
  method: 'delete',
  path: '/ui/session',
  tags,
  summary: 'Sign out (needs X-CSRF-Token): the cookie stops working at once',
  responses: { 204: { description: 'signed out' }, 403: { description: 'no X-CSRF-Token, or a wrong one (csrf_failed)', content: { 'application/json': { schema: ErrorSchema } } } },
});

/**
 * Over https the cookie is Secure. A proxy's `X-Forwarded-Proto: https` counts too: trusting it
 * can only add the flag (a spoofed header makes the sender's own cookie https-only), never drop it.
 */
function cameOverHttps(c: Context<ApiEnv>): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  return c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https';
}

/**
 * A sign-in posted by another site's page (login CSRF) is refused: browsers send Origin on POST.
 * (The JSON-only body already stops a cross-site form; this also covers odd clients.) A proxy
 * may rewrite Host: its X-Forwarded-Host counts too, a header no cross-site page can set.
 */
function refuseForeignOrigin(c: Context<ApiEnv>) {
  const origin = c.req.header('origin');
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  const ours = [c.req.header('host'), c.req.header('x-forwarded-host')?.split(',')[0]?.trim()];
  if (!host || !ours.includes(host)) throw forbidden('Sign in from the console page itself: this request came from another site.');
}

/** What the console needs to know about its session: who, what it may do, and the CSRF token. */
function presentSession(deps: ApiDeps, session: Pick<SessionPrincipal, 'keyId' | 'userId' | 'workspaceId' | 'role' | 'isDefaultWorkspace'>, expiresAt: Date, token: string) {
  const operator = session.role === 'admin' && session.isDefaultWorkspace;
  return {
    keyId: session.keyId,
    userId: session.userId,
    workspaceId: session.workspaceId,
    role: session.role,
    expiresAt: expiresAt.toISOString(),
    csrfToken: csrfTokenFor(token),
    csrfHeader: CSRF_HEADER,
    // Bull Board serves operators only (apps/api/board.ts); others get no link to it.
    bullBoard: operator
      ? { path: BOARD_PATH, defaultQueue: DEFAULT_NODE_QUEUE, queues: Object.fromEntries(deps.engine.registry.list().map((p) => [p.type, nodeQueueFor(deps.engine.registry, p.type)])) }
      : null,
  };
}

/** Opens a session for a person in one workspace: the row, the cookie, and the console's view of it. */
export function sessionStarter(deps: ApiDeps): StartSession {
  return async (c, who) => {
    const token = generateSessionToken();
    const session = await insertSession(deps.db, { tokenHash: hashSessionToken(token), userId: who.userId, workspaceId: who.workspaceId, role: who.role, ttlSeconds: SESSION_TTL_SECONDS });
    setCookie(c, SESSION_COOKIE, token, { httpOnly: true, sameSite: 'Strict', secure: cameOverHttps(c), path: '/', maxAge: SESSION_TTL_SECONDS });
    const workspace = await deps.db.selectFrom('workspaces').select('is_default').where('id', '=', who.workspaceId).executeTakeFirstOrThrow();
    c.get('log').info({ userId: who.userId, workspaceId: who.workspaceId, sessionId: session.id }, 'console session started');
    return presentSession(deps, { keyId: null, userId: who.userId, workspaceId: who.workspaceId, role: who.role, isDefaultWorkspace: workspace.is_default }, session.expires_at, token);
  };
}

/** POST /ui/session (sign in with a password or an API key), GET /ui/session (who am I), DELETE /ui/session (sign out). */
export function sessionRoutes(deps: ApiDeps) {
  const { db } = deps;
  const startSession = sessionStarter(deps);
  const app = new OpenAPIHono<ApiEnv>();
  app.use('/ui/session', async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });
  app.use('/ui/session', jsonBodies());

  app.openapi(signIn, async (c) => {
    refuseForeignOrigin(c);
    const body = c.req.valid('json');
    if ('email' in body) return c.json(await signInPerson(c, body), 201);
    const key = await authenticate(db, body.apiKey);
    if (!key) throw unauthorized('That API key is not valid: unknown or revoked. Ask an admin for a key (POST /v1/api-keys).');
    const token = generateSessionToken();
    const session = await insertSession(db, { tokenHash: hashSessionToken(token), apiKeyId: key.keyId, workspaceId: key.workspaceId, role: key.role, ttlSeconds: SESSION_TTL_SECONDS });
    setCookie(c, SESSION_COOKIE, token, { httpOnly: true, sameSite: 'Strict', secure: cameOverHttps(c), path: '/', maxAge: SESSION_TTL_SECONDS });
    c.get('log').info({ keyId: key.keyId, workspaceId: key.workspaceId, sessionId: session.id }, 'console session started');
    return c.json(presentSession(deps, key, session.expires_at, token), 201);
  });

  /** Email and password: one answer for every failure, limited per account and client address. */
  async function signInPerson(c: Context<ApiEnv>, form: { email: string; password: string }) {
    const attempt = await signInWithPassword(db, { ...form, client: clientKey(clientAddress(c, deps.config.TRUSTED_PROXY_HOPS)) });
    if (!attempt.ok && attempt.retryAfter !== undefined) {
      throw new AppError(429, 'too_many_attempts', `Too many failed sign-ins; try again in ${Math.ceil(attempt.retryAfter / 60)} min.`, undefined, { 'Retry-After': String(attempt.retryAfter) });
    }
    // A person in no workspace (every membership removed) cannot sign in: the same answer as a wrong password.
    const [membership] = attempt.ok ? await membershipsOf(db, attempt.user.id) : [];
    if (!attempt.ok || !membership) throw unauthorized('Wrong email or password.');
    return startSession(c, { userId: attempt.user.id, workspaceId: membership.workspace_id, role: membership.role });
  }

  app.openapi(whoAmI, async (c) => {
    const token = sessionToken(c);
    const session = await findSession(db, token);
    if (!token) throw unauthorized('Not signed in: POST /ui/session with {"email", "password"} or {"apiKey"} first.');
    // A cookie that no longer works: the console says why rather than showing a bare sign-in form.
    if (!session) throw new AppError(401, 'session_ended', sessionEnded().message);
    return c.json(presentSession(deps, session, session.expiresAt, token), 200);
  });

  app.openapi(signOut, async (c) => {
    const token = sessionToken(c);
    const session = await findSession(db, token);
    if (session && token) {
      if (!csrfMatches(token, c.req.header(CSRF_HEADER))) throw csrfRefused();
      await revokeSession(db, hashSessionToken(token));
      c.get('log').info({ sessionId: session.sessionId }, 'console session ended by sign-out');
    }
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure: cameOverHttps(c), httpOnly: true, sameSite: 'Strict' });
    return c.body(null, 204);
  });

  return app;
}
