import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Role } from '../../../db/types.js';
import { AppError, notFound } from '../../../lib/errors.js';
import { acceptInvitation, describeInvitation, requestPasswordReset, resetPassword } from '../../../lib/people/accounts.js';
import type { People } from '../../../lib/people/deps.js';
import { OidcRefusal } from '../../../lib/people/oidc.js';
import { PASSWORD_MAX } from '../../../lib/people/passwords.js';
import type { ApiEnv } from '../context.js';
import { jsonBodies } from '../middleware/body.js';
import { clientAddress } from '../client-address.js';
import { findSession, sessionToken } from '../middleware/session-auth.js';
import { defineRoute, ErrorSchema } from '../route.js';
import { clientKey } from '../../../lib/webhooks/rate-limit.js';

/** Signs a person in: a session row, the cookie, and what the console needs to know (201 body). */
export type StartSession = (c: Context<ApiEnv>, who: { userId: string; workspaceId: string; role: Role }) => Promise<Record<string, unknown>>;

const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });
const tags = ['console'];
const token = z.object({ token: z.string().max(100) });
// Length is checked by the account code (in characters as people count them); this bounds the body.
const password = z.string().max(PASSWORD_MAX * 4);

const acceptRoute = defineRoute('public', {
  method: 'post',
  path: '/ui/invite/{token}',
  tags,
  summary: 'Accept an invitation: creates the account (or adds the membership) and signs in; a used or expired link is 410',
  request: { params: token, body: { required: true, content: { 'application/json': { schema: z.object({ name: z.string().trim().min(1).max(200), password }).strict() } } } },
  responses: { 201: json('signed in') },
});
const inviteInfo = defineRoute('public', {
  method: 'get',
  path: '/ui/invite/{token}/info',
  tags,
  summary: 'What an invitation is for (email, workspace, role), for the accept page; 410 once used or expired',
  request: { params: token },
  responses: { 200: json('the invitation') },
});
const askReset = defineRoute('public', {
  method: 'post',
  path: '/ui/password-reset',
  tags,
  summary: 'Ask for a password reset link (30 min); always 202, whether the email is known or not',
  request: { body: { required: true, content: { 'application/json': { schema: z.object({ email: z.string().max(320) }).strict() } } } },
  responses: { 202: json('accepted') },
});
const doReset = defineRoute('public', {
  method: 'post',
  path: '/ui/password-reset/{token}',
  tags,
  summary: 'Set a new password with a reset link; ends every other session and signs in',
  request: { params: token, body: { required: true, content: { 'application/json': { schema: z.object({ password }).strict() } } } },
  responses: { 200: json('signed in') },
});
const options = defineRoute('public', { method: 'get', path: '/ui/sign-in-options', tags, summary: 'Which ways of signing in this server offers', responses: { 200: json('options') } });
const oidcStart = defineRoute('public', { method: 'get', path: '/ui/oidc/start', tags, summary: 'Single sign-on: redirects to the identity provider', responses: { 302: { description: 'to the identity provider' }, 404: { description: 'single sign-on is not configured', content: { 'application/json': { schema: ErrorSchema } } } } });
const oidcCallback = defineRoute('public', { method: 'get', path: '/ui/oidc/callback', tags, summary: 'Single sign-on: the identity provider sends the browser back here', responses: { 302: { description: 'signed in, to the console' }, 400: { description: 'refused, with a page saying why' } } });

/** A plain page for a refused single sign-on: the person reads why, and goes back to sign in. */
function refusalPage(message: string): string {
  const text = message.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in refused · Conveyor</title></head><body><main><h1>Sign-in refused</h1><p>${text}</p><p><a href="/ui/">Back to sign in</a></p></main></body></html>`;
}

/** Invitations, password resets and single sign-on: the console's routes for people. */
export function peopleConsoleRoutes(people: People, startSession: StartSession) {
  const { db } = people;
  const app = new OpenAPIHono<ApiEnv>();
  for (const path of ['/ui/invite/*', '/ui/password-reset', '/ui/password-reset/*', '/ui/oidc/*']) {
    app.use(path, async (c, next) => {
      await next();
      c.header('Cache-Control', 'no-store');
      // These URLs hold one-time tokens: no page they lead to may pass them on.
      c.header('Referrer-Policy', 'no-referrer');
    });
  }
  app.use('/ui/invite/*', jsonBodies());
  app.use('/ui/password-reset', jsonBodies());
  app.use('/ui/password-reset/*', jsonBodies());

  app.openapi(inviteInfo, async (c) => {
    const info = await describeInvitation(db, c.req.valid('param').token);
    return c.json({ email: info.email, role: info.role, workspace: info.workspace_name }, 200);
  });

  app.openapi(acceptRoute, async (c) => {
    const form = c.req.valid('json');
    // A person already signed in as the invited account joins without their password again.
    const session = await findSession(db, sessionToken(c));
    const accepted = await acceptInvitation(db, c.req.valid('param').token, form, {
      signedInUserId: session?.userId ?? undefined,
      client: clientKey(clientAddress(c, people.trustedProxyHops)),
    });
    c.get('log').info({ userId: accepted.user.id, workspaceId: accepted.workspaceId, created: accepted.created }, 'invitation accepted');
    return c.json(await startSession(c, { userId: accepted.user.id, workspaceId: accepted.workspaceId, role: accepted.role }), 201);
  });

  app.openapi(askReset, async (c) => {
    requestPasswordReset(people, c.req.valid('json').email);
    return c.json({ status: 'accepted', message: 'If that email has an account, a reset link is on its way.' }, 202);
  });

  app.openapi(doReset, async (c) => {
    const { userId } = await resetPassword(db, c.req.valid('param').token, c.req.valid('json').password);
    const memberships = await db.selectFrom('memberships').select(['workspace_id', 'role']).where('user_id', '=', userId).orderBy('created_at').execute();
    const first = memberships[0];
    if (!first) throw new AppError(403, 'no_workspace', 'Your password is set, but your account belongs to no workspace. Ask an admin to invite you.');
    c.get('log').info({ userId }, 'password reset; every other session ended');
    return c.json(await startSession(c, { userId, workspaceId: first.workspace_id, role: first.role }), 200);
  });

  app.openapi(options, (c) => c.json({ apiKey: true, password: true, sso: people.oidc !== undefined, passwordReset: people.mailer !== undefined }, 200));

  app.openapi(oidcStart, async (c) => {
    if (!people.oidc) throw notFound('single sign-on');
    return c.redirect((await people.oidc.start()).toString(), 302);
  });

  app.openapi(oidcCallback, async (c) => {
    if (!people.oidc) throw notFound('single sign-on');
    try {
      const signedIn = await people.oidc.finish(new URL(c.req.url).searchParams);
      await startSession(c, { userId: signedIn.user.id, workspaceId: signedIn.workspaceId, role: signedIn.role });
      c.get('log').info({ userId: signedIn.user.id, created: signedIn.created }, 'signed in with single sign-on');
      return c.redirect('/ui/', 302);
    } catch (err) {
      if (!(err instanceof OidcRefusal)) throw err;
      c.get('log').info({ code: err.code }, 'single sign-on refused');
      return c.html(refusalPage(err.message), err.code === 'domain_not_allowed' || err.code === 'no_workspace' ? 403 : 400);
    }
  });

  return app;
}
