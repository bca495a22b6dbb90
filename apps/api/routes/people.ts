import { OpenAPIHono, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import { findUserById, membersOf, membershipsOf, removeMembership, setPassword, upsertMembership } from '../../../db/users.js';
import type { Principal } from '../../../db/api-keys.js';
import { AppError, badRequest, conflict, notFound } from '../../../lib/errors.js';
import { hashPassword, PASSWORD_MAX, passwordProblem, verifyPassword } from '../../../lib/people/passwords.js';
import { emailSchema, invite } from '../../../lib/people/accounts.js';
import { audit } from '../audit.js';
import type { People } from '../../../lib/people/deps.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { defineRoute } from '../route.js';

const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });
const tags = ['people'];
const role = z.enum(['admin', 'editor', 'viewer']);
const idParam = z.object({ id: z.string().uuid() });

const inviteRoute = defineRoute('admin', {
  method: 'post',
  path: '/v1/invitations',
  tags,
  summary: 'Invite a person by email (72 h link); without SMTP_URL the answer carries the link instead',
  request: { body: { required: true, content: { 'application/json': { schema: z.object({ email: emailSchema, role }).strict() } } } },
  responses: { 201: json('the invitation') },
});
const listUsers = defineRoute('admin', { method: 'get', path: '/v1/users', tags, summary: "This workspace's members", responses: { 200: json('members') } });
const changeRole = defineRoute('admin', {
  method: 'patch',
  path: '/v1/users/{id}',
  tags,
  summary: "Change a member's role; their sessions take it at once",
  request: { params: idParam, body: { required: true, content: { 'application/json': { schema: z.object({ role }).strict() } } } },
  responses: { 200: json('the member') },
});
const removeUser = defineRoute('admin', { method: 'delete', path: '/v1/users/{id}', tags, summary: 'Remove a member from this workspace; their sessions here end at once', request: { params: idParam }, responses: { 204: { description: 'removed' } } });
const me = defineRoute('viewer', { method: 'get', path: '/v1/me', tags, summary: 'Who is calling: the signed-in person (or the API key), the workspace and role', responses: { 200: json('the caller') } });
const updateMe = defineRoute('viewer', {
  method: 'patch',
  path: '/v1/me',
  tags,
  summary: "Change the signed-in person's name",
  request: { body: { required: true, content: { 'application/json': { schema: z.object({ name: z.string().trim().min(1).max(200) }).strict() } } } },
  responses: { 200: json('the caller') },
});
const changePassword = defineRoute('viewer', {
  method: 'post',
  path: '/v1/me/password',
  tags,
  summary: 'Change the signed-in person’s password (the current one is asked again); every other session of theirs ends',
  request: { body: { required: true, content: { 'application/json': { schema: z.object({ currentPassword: z.string().max(PASSWORD_MAX * 4), newPassword: z.string().max(PASSWORD_MAX * 4) }).strict() } } } },
  responses: { 204: { description: 'changed' } },
});
const switchWorkspace = defineRoute('viewer', {
  method: 'put',
  path: '/v1/me/workspace',
  tags,
  summary: 'Move this console session to another workspace the person belongs to (its role there)',
  request: { body: { required: true, content: { 'application/json': { schema: z.object({ workspaceId: z.string().uuid() }).strict() } } } },
  responses: { 200: json('the caller in the new workspace') },
});
const mySessions = defineRoute('viewer', { method: 'get', path: '/v1/me/sessions', tags, summary: "The caller's live console sessions (a person's, or those opened with the calling key)", responses: { 200: json('sessions') } });
const endSession = defineRoute('viewer', { method: 'delete', path: '/v1/me/sessions/{id}', tags, summary: 'End one of my sessions', request: { params: idParam }, responses: { 204: { description: 'ended' } } });

/** Not a role problem: the caller is a key, and only people have accounts. */
const noAccount = () => new AppError(403, 'no_account', 'This is about a person’s account: sign in to the console with an email and password (an API key has no account).');

/** /v1/invitations, /v1/users (admins), /v1/me and its sessions (whoever is signed in). */
export function peopleRoutes({ db }: ApiDeps, people: People) {
  const app = new OpenAPIHono<ApiEnv>();

  app.openapi(inviteRoute, async (c) => {
    const body = c.req.valid('json');
    const principal = c.get('principal');
    const workspace = await db.selectFrom('workspaces').select(['id', 'name']).where('id', '=', principal.workspaceId).executeTakeFirstOrThrow();
    const existing = await db
      .selectFrom('memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select('u.id')
      .where('u.email', '=', body.email)
      .where('m.workspace_id', '=', workspace.id)
      .executeTakeFirst();
    if (existing) throw conflict(`${body.email} is already a member of this workspace: change their role with PATCH /v1/users/${existing.id}.`, 'already_member');
    const invitation = await invite(people, { workspaceId: workspace.id, workspaceName: workspace.name, email: body.email, role: body.role, byKey: principal.keyId, byUser: principal.userId });
    await audit(c, db, 'invitation.create', 'invitation', invitation.id, { email: body.email, role: body.role, mailed: invitation.mailed });
    return c.json({ id: invitation.id, email: body.email, role: body.role, expiresAt: invitation.expiresAt.toISOString(), mailed: invitation.mailed, link: invitation.link ?? null }, 201);
  });

  app.openapi(listUsers, async (c) => {
    const rows = await membersOf(db, c.get('principal').workspaceId);
    return c.json({ items: rows.map((u) => ({ id: u.id, email: u.email, name: u.name, role: u.role, memberSince: u.created_at.toISOString() })) }, 200);
  });

  app.openapi(changeRole, async (c) => {
    const { id } = c.req.valid('param');
    const { role: next } = c.req.valid('json');
    const { workspaceId } = c.get('principal');
    const member = (await membersOf(db, workspaceId)).find((m) => m.id === id);
    if (!member) throw notFound('member');
    await db.transaction().execute(async (tx) => {
      await upsertMembership(tx, id, workspaceId, next);
      // A session carries the role it signed in with: the change reaches it on its next request.
      await tx.updateTable('console_sessions').set({ role: next }).where('user_id', '=', id).where('workspace_id', '=', workspaceId).where('revoked_at', 'is', null).execute();
      await audit(c, tx, 'user.role', 'user', id, { from: member.role, to: next });
    });
    return c.json({ id, email: member.email, name: member.name, role: next }, 200);
  });

  app.openapi(removeUser, async (c) => {
    const { id } = c.req.valid('param');
    const principal = c.get('principal');
    if (principal.userId === id) throw conflict('You cannot remove yourself; ask another admin.', 'cannot_remove_self');
    const removed = await removeMembership(db, id, principal.workspaceId);
    if (!removed) throw notFound('member');
    await audit(c, db, 'user.remove', 'user', id);
    return c.body(null, 204);
  });

  app.openapi(me, async (c) => {
    const principal = c.get('principal');
    const workspace = await db.selectFrom('workspaces').select(['id', 'name']).where('id', '=', principal.workspaceId).executeTakeFirstOrThrow();
    if (!principal.userId) return c.json({ kind: 'api_key', keyId: principal.keyId, workspace, role: principal.role }, 200);
    const user = await findUserById(db, principal.userId);
    if (!user) throw notFound('user');
    const workspaces = (await membershipsOf(db, user.id)).map((m) => ({ id: m.workspace_id, name: m.workspace_name, role: m.role }));
    return c.json({ kind: 'user', id: user.id, email: user.email, name: user.name, workspace, role: principal.role, workspaces }, 200);
  });

  app.openapi(updateMe, async (c) => {
    const principal = c.get('principal');
    if (!principal.userId) throw noAccount();
    await db.updateTable('users').set({ name: c.req.valid('json').name }).where('id', '=', principal.userId).execute();
    const user = (await findUserById(db, principal.userId))!;
    return c.json({ id: user.id, email: user.email, name: user.name }, 200);
  });

  app.openapi(changePassword, async (c) => {
    const principal = c.get('principal');
    if (!principal.userId) throw noAccount();
    const { currentPassword, newPassword } = c.req.valid('json');
    const user = (await findUserById(db, principal.userId))!;
    // An SSO-only account has no password to confirm: it sets its first one from a reset link.
    if (!(await verifyPassword(user.password_hash, currentPassword))) throw badRequest('The current password is not right.', [{ pointer: '/currentPassword', message: 'is not right' }], 'wrong_password');
    const problem = passwordProblem(newPassword);
    if (problem) throw badRequest(`newPassword ${problem}`, [{ pointer: '/newPassword', message: problem }]);
    await setPassword(db, user.id, await hashPassword(newPassword), principal.sessionId);
    await audit(c, db, 'user.password', 'user', user.id);
    return c.body(null, 204);
  });

  app.openapi(switchWorkspace, async (c) => {
    const principal = c.get('principal');
    if (!principal.userId || !principal.sessionId) throw noAccount();
    const target = (await membershipsOf(db, principal.userId)).find((m) => m.workspace_id === c.req.valid('json').workspaceId);
    if (!target) throw notFound('workspace');
    await db.updateTable('console_sessions').set({ workspace_id: target.workspace_id, role: target.role }).where('id', '=', principal.sessionId).execute();
    return c.json({ workspace: { id: target.workspace_id, name: target.workspace_name }, role: target.role }, 200);
  });

  app.openapi(mySessions, async (c) => {
    const principal = c.get('principal');
    const rows = await ownSessions(principal)
      .innerJoin('workspaces as w', 'w.id', 's.workspace_id')
      .select(['s.id', 's.created_at', 's.expires_at', 'w.name as workspace'])
      .where('s.revoked_at', 'is', null)
      .where('s.expires_at', '>', sql<Date>`now()`)
      .orderBy('s.created_at', 'desc')
      .execute();
    return c.json({ items: rows.map((s) => ({ id: s.id, workspace: s.workspace, createdAt: s.created_at.toISOString(), expiresAt: s.expires_at.toISOString(), current: s.id === principal.sessionId })) }, 200);
  });

  app.openapi(endSession, async (c) => {
    const principal = c.get('principal');
    const id = c.req.valid('param').id;
    const mine = await ownSessions(principal).select('s.id').where('s.id', '=', id).where('s.revoked_at', 'is', null).executeTakeFirst();
    if (!mine) throw notFound('session');
    await db.updateTable('console_sessions').set({ revoked_at: sql<Date>`now()` }).where('id', '=', id).where('revoked_at', 'is', null).execute();
    await audit(c, db, 'session.revoke', 'session', id);
    return c.body(null, 204);
  });

  /** A person's console sessions, or those opened with the calling key. */
  function ownSessions(principal: Principal) {
    const q = db.selectFrom('console_sessions as s');
    return principal.userId ? q.where('s.user_id', '=', principal.userId) : q.where('s.api_key_id', '=', principal.keyId);
  }

  return app;
}
