import { serve, type ServerType } from '@hono/node-server';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashSecret } from '../../../lib/auth/api-keys.js';
import { freePort } from '../../../scripts/free-port.js';
import { startOidcIssuer, type OidcIssuer } from '../../../test/oidc-issuer.js';
import { peopleEnv } from '../../../test/people-env.js';
import { startSmtpSink, type SmtpSink } from '../../../test/smtp-sink.js';
import { startStack, type TestStack } from '../../../test/stack.js';

const errorShape = (code: string) => ({ error: expect.objectContaining({ code, message: expect.any(String) }) });
const PASSWORD = 'a long enough password';

/**
 * People over real HTTP: invitations, sign-in with email and password, password reset, sessions
 * as rows, members, single sign-on against a local OpenID provider, and what each refuses.
 */
describe('people', () => {
  let stack: TestStack;
  let server: ServerType;
  let base: string;
  let smtp: SmtpSink;
  let issuer: OidcIssuer;
  const viewerKey = `cvy_people_viewer_${randomBytes(12).toString('hex')}`;
  const logs: string[] = [];

  beforeAll(async () => {
    smtp = await startSmtpSink();
    issuer = await startOidcIssuer();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    stack = await startStack({
      workers: false,
      env: peopleEnv({ base, smtp, issuer, publicUrl: 'https://conveyor.example.test' }),
      log: (await import('pino')).pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) }),
    });
    const { workspace_id } = await stack.db.selectFrom('api_keys').select('workspace_id').executeTakeFirstOrThrow();
    await stack.db.insertInto('api_keys').values({ workspace_id, name: 'viewer', role: 'viewer', secret_hash: hashSecret(viewerKey), prefix: 'cvy_pe' }).execute();
    server = serve({ fetch: stack.app.fetch, port, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
  });
  // Every request here comes from 127.0.0.1: one test's failed sign-ins must not limit the next's.
  beforeEach(async () => {
    await stack.db.deleteFrom('sign_in_failures').execute();
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await stack?.close();
    await smtp?.close();
    await issuer?.close();
  });

  interface Session {
    cookie: string;
    csrf: string;
  }

  const http = async (method: string, path: string, opts: { body?: unknown; session?: Session; key?: string; headers?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.session) Object.assign(headers, { cookie: opts.session.cookie, 'x-csrf-token': opts.session.csrf });
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    const res = await fetch(`${base}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), redirect: 'manual' });
    const text = await res.text();
    let body: any = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // an HTML page or empty
    }
    return { status: res.status, headers: res.headers, body, text };
  };
  const sessionOf = (res: { headers: Headers; body: any }): Session => ({ cookie: res.headers.getSetCookie()[0]!.split(';')[0]!, csrf: res.body.csrfToken });

  async function invited(email: string, role: 'admin' | 'editor' | 'viewer') {
    const res = await http('POST', '/v1/invitations', { key: stack.adminKey, body: { email, role } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ email: email.toLowerCase(), role, mailed: true, link: null });
    const mail = await smtp.mailTo(email.toLowerCase(), /ui\/invite/);
    return /\/ui\/invite\/([A-Za-z0-9_-]{43})/.exec(mail.text)![1]!;
  }

  async function member(role: 'admin' | 'editor' | 'viewer') {
    const email = `m${randomBytes(4).toString('hex')}@example.test`;
    const token = await invited(email, role);
    const accepted = await http('POST', `/ui/invite/${token}`, { body: { name: `Member ${role}`, password: PASSWORD } });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
    return { email, session: sessionOf(accepted), token };
  }

  it('an invitation mailed to a person becomes an account, signed in; the link then is 410', async () => {
    const email = `Ana.${randomBytes(3).toString('hex')}@Example.test`;
    const token = await invited(email, 'editor');
    expect((await http('GET', `/ui/invite/${token}/info`)).body).toMatchObject({ email: email.toLowerCase(), role: 'editor' });
    const accepted = await http('POST', `/ui/invite/${token}`, { body: { name: 'Ana', password: PASSWORD } });
    expect(accepted.status).toBe(201);
    expect(accepted.headers.get('referrer-policy')).toBe('no-referrer');
    const session = sessionOf(accepted);
    const me = await http('GET', '/v1/me', { session });
    expect(me.body).toMatchObject({ kind: 'user', email: email.toLowerCase(), name: 'Ana', role: 'editor', workspaces: [expect.objectContaining({ role: 'editor' })] });
    expect(JSON.stringify(me.body)).not.toMatch(/argon2|password/i);
    expect((await http('POST', `/ui/invite/${token}`, { body: { name: 'Eve', password: PASSWORD } })).body).toEqual(errorShape('link_expired'));
    expect((await http('POST', `/ui/invite/${randomBytes(32).toString('base64url')}`, { body: { name: 'Eve', password: PASSWORD } })).status).toBe(404);
    // The token never reaches a log line.
    expect(logs.join('\n')).not.toContain(token);
  });

  it('refuses bad invitations: a viewer inviting, a malformed email, a short password, an existing member', async () => {
    expect((await http('POST', '/v1/invitations', { key: viewerKey, body: { email: 'x@example.test', role: 'viewer' } })).status).toBe(403);
    expect((await http('POST', '/v1/invitations', { key: stack.adminKey, body: { email: 'not an email', role: 'viewer' } })).status).toBe(400);
    expect((await http('POST', '/v1/invitations', { key: stack.adminKey, body: { email: 'x@example.test', role: 'owner' } })).status).toBe(400);
    const email = `s${randomBytes(3).toString('hex')}@example.test`;
    const token = await invited(email, 'viewer');
    const short = await http('POST', `/ui/invite/${token}`, { body: { name: 'Short', password: 'short' } });
    expect(short.status).toBe(400);
    expect(short.body.error.details[0].pointer).toBe('/password');
    expect((await http('POST', `/ui/invite/${token}`, { body: { name: 'Long', password: 'x'.repeat(257) } })).status).toBe(400);
    expect((await stack.db.selectFrom('users').select('id').where('email', '=', email).execute()).length).toBe(0);
    await http('POST', `/ui/invite/${token}`, { body: { name: 'Now', password: PASSWORD } });
    expect((await http('POST', '/v1/invitations', { key: stack.adminKey, body: { email, role: 'admin' } })).body).toEqual(errorShape('already_member'));
  });

  it('signs in with email and password; a wrong email and a wrong password get the same 401', async () => {
    const { email } = await member('viewer');
    const ok = await http('POST', '/ui/session', { body: { email: email.toUpperCase(), password: PASSWORD } });
    expect(ok.status).toBe(201);
    expect(ok.headers.getSetCookie()[0]).toMatch(/HttpOnly/i);
    const wrongPassword = await http('POST', '/ui/session', { body: { email, password: 'not the password at all' } });
    const wrongEmail = await http('POST', '/ui/session', { body: { email: `nobody.${email}`, password: PASSWORD } });
    expect(wrongPassword.status).toBe(401);
    expect(wrongEmail.status).toBe(401);
    expect(wrongEmail.body).toEqual(wrongPassword.body);
    expect((await http('POST', '/ui/session', { body: { email: 'not an email', password: PASSWORD } })).status).toBe(401);
    expect((await http('POST', '/ui/session', { body: { email, password: 'p'.repeat(10_000) } })).status).toBe(400);
  });

  it('limits failed sign-ins per account: past ten, even the right password is 429 with Retry-After', async () => {
    const { email } = await member('viewer');
    for (let i = 0; i < 10; i += 1) {
      expect((await http('POST', '/ui/session', { body: { email, password: `wrong password ${i}` } })).status).toBe(401);
    }
    const limited = await http('POST', '/ui/session', { body: { email, password: PASSWORD } });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual(errorShape('too_many_attempts'));
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('a viewer session sees no way to invite; removing a member ends their session at once', async () => {
    const viewer = await member('viewer');
    expect((await http('POST', '/v1/invitations', { session: viewer.session, body: { email: 'y@example.test', role: 'viewer' } })).status).toBe(403);
    const users = await http('GET', '/v1/users', { key: stack.adminKey });
    const row = users.body.items.find((u: { email: string }) => u.email === viewer.email);
    expect(row).toMatchObject({ role: 'viewer', name: 'Member viewer' });
    expect((await http('GET', '/v1/me', { session: viewer.session })).status).toBe(200);
    expect((await http('DELETE', `/v1/users/${row.id}`, { key: stack.adminKey })).status).toBe(204);
    expect((await http('GET', '/v1/me', { session: viewer.session })).status).toBe(401);
    // Signing in again finds no workspace to enter.
    expect((await http('POST', '/ui/session', { body: { email: viewer.email, password: PASSWORD } })).status).toBe(401);
  });

  it("changing a member's role reaches their live session", async () => {
    const editor = await member('editor');
    const id = (await http('GET', '/v1/me', { session: editor.session })).body.id;
    expect((await http('PATCH', `/v1/users/${id}`, { key: stack.adminKey, body: { role: 'viewer' } })).status).toBe(200);
    expect((await http('GET', '/v1/me', { session: editor.session })).body.role).toBe('viewer');
    expect((await http('POST', '/v1/workflows', { session: editor.session, body: { name: 'nope', nodes: [{ id: 'a', type: 'noop' }] } })).status).toBe(403);
  });

  it('sessions are rows: listed and ended by their person; a password reset ends every other one', async () => {
    const person = await member('editor');
    const second = sessionOf(await http('POST', '/ui/session', { body: { email: person.email, password: PASSWORD } }));
    const list = await http('GET', '/v1/me/sessions', { session: person.session });
    expect(list.body.items).toHaveLength(2);
    expect(list.body.items.filter((s: { current: boolean }) => s.current)).toHaveLength(1);
    const other = list.body.items.find((s: { current: boolean }) => !s.current);
    expect((await http('DELETE', `/v1/me/sessions/${other.id}`, { session: person.session })).status).toBe(204);
    expect((await http('GET', '/v1/me', { session: second })).status).toBe(401);
    // A key lists the console sessions opened with it, never a person's.
    const ofKey = await http('GET', '/v1/me/sessions', { key: stack.adminKey });
    expect(ofKey.status).toBe(200);
    expect(ofKey.body.items.map((i: { id: string }) => i.id)).not.toContain(list.body.items[0].id);
    expect((await http('DELETE', `/v1/me/sessions/${list.body.items[0].id}`, { key: stack.adminKey })).status).toBe(404);

    expect((await http('POST', '/ui/password-reset', { body: { email: person.email } })).status).toBe(202);
    expect((await http('POST', '/ui/password-reset', { body: { email: `nobody-${person.email}` } })).status).toBe(202);
    const mail = await smtp.mailTo(person.email, /password-reset/);
    const reset = /\/ui\/password-reset\/([A-Za-z0-9_-]{43})/.exec(mail.text)![1]!;
    const done = await http('POST', `/ui/password-reset/${reset}`, { body: { password: 'a new long password' } });
    expect(done.status).toBe(200);
    expect((await http('GET', '/v1/me', { session: person.session })).status).toBe(401);
    expect((await http('GET', '/v1/me', { session: sessionOf(done) })).status).toBe(200);
    expect((await http('POST', `/ui/password-reset/${reset}`, { body: { password: 'yet another password' } })).status).toBe(410);
    expect(logs.join('\n')).not.toContain(reset);
  });

  it('a person renames themself, changes their password (other sessions end, audited) and switches workspace', async () => {
    const person = await member('editor');
    const other = sessionOf(await http('POST', '/ui/session', { body: { email: person.email, password: PASSWORD } }));
    expect((await http('PATCH', '/v1/me', { session: person.session, body: { name: 'Renamed' } })).body).toMatchObject({ name: 'Renamed' });
    const wrong = await http('POST', '/v1/me/password', { session: person.session, body: { currentPassword: 'not it at all', newPassword: 'the next password' } });
    expect(wrong.body).toEqual(errorShape('wrong_password'));
    expect((await http('POST', '/v1/me/password', { session: person.session, body: { currentPassword: PASSWORD, newPassword: 'short' } })).status).toBe(400);
    expect((await http('POST', '/v1/me/password', { session: person.session, body: { currentPassword: PASSWORD, newPassword: 'the next password' } })).status).toBe(204);
    expect((await http('GET', '/v1/me', { session: person.session })).status).toBe(200);
    expect((await http('GET', '/v1/me', { session: other })).status).toBe(401);
    const audit = await http('GET', '/v1/audit-log', { key: stack.adminKey });
    expect(audit.body.items.find((e: { action: string }) => e.action === 'user.password')).toMatchObject({ keyId: null, user: { email: person.email } });
    expect((await http('PATCH', '/v1/me', { key: stack.adminKey, body: { name: 'x' } })).body).toEqual(errorShape('no_account'));

    // A second workspace: invited there too, the person moves their session between them.
    const ws = await http('POST', '/v1/workspaces', { key: stack.adminKey, body: { name: `second-${randomBytes(3).toString('hex')}` } });
    expect(ws.status, JSON.stringify(ws.body)).toBe(201);
    const inv = await http('POST', '/v1/invitations', { key: ws.body.apiKey.secret, body: { email: person.email, role: 'admin' } });
    expect(inv.status).toBe(201);
    await smtp.mailTo(person.email, new RegExp(ws.body.name));
    const mails = smtp.mails.filter((m) => m.to.includes(person.email) && /ui\/invite/.test(m.text));
    const latest = /\/ui\/invite\/([A-Za-z0-9_-]{43})/.exec(mails[mails.length - 1]!.text)![1]!;
    // The account exists: the link needs its password (or its session), never a new one of the holder's choosing.
    expect((await http('POST', `/ui/invite/${latest}`, { body: { name: 'ignored', password: 'ignored password here' } })).body).toEqual(errorShape('wrong_password'));
    expect((await http('POST', `/ui/invite/${latest}`, { body: { name: 'ignored', password: 'the next password' } })).status).toBe(201);
    const me = await http('GET', '/v1/me', { session: person.session });
    expect(me.body.workspaces).toHaveLength(2);
    const target = me.body.workspaces.find((w: { role: string }) => w.role === 'admin');
    const switched = await http('PUT', '/v1/me/workspace', { session: person.session, body: { workspaceId: target.id } });
    expect(switched.body).toMatchObject({ role: 'admin', workspace: { id: target.id } });
    expect((await http('GET', '/v1/me', { session: person.session })).body).toMatchObject({ role: 'admin', workspace: { id: target.id } });
    expect((await http('PUT', '/v1/me/workspace', { session: person.session, body: { workspaceId: '00000000-0000-4000-8000-000000000000' } })).status).toBe(404);
  });

  it('audits console actions with the person behind them', async () => {
    const admin = await member('admin');
    const res = await http('POST', '/v1/workflows', { session: admin.session, body: { name: `by-person-${randomBytes(3).toString('hex')}`, nodes: [{ id: 'a', type: 'noop' }] } });
    expect(res.status).toBe(201);
    const log = await http('GET', '/v1/audit-log', { key: stack.adminKey });
    const entry = log.body.items.find((e: { targetId: string }) => e.targetId === res.body.id);
    expect(entry).toMatchObject({ action: 'workflow.create', userId: expect.any(String), user: { email: admin.email } });
  });

  it('single sign-on: a verified email of an allowed domain signs in; the callback never works twice', async () => {
    expect((await http('GET', '/ui/sign-in-options')).body).toMatchObject({ sso: true, password: true });
    const email = `sso.${randomBytes(3).toString('hex')}@example.test`;
    issuer.nextUser = { sub: `sub-${email}`, email, email_verified: true, name: 'Sso Person' };
    const start = await http('GET', '/ui/oidc/start');
    expect(start.status).toBe(302);
    const atIssuer = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    const callback = new URL(atIssuer.headers.get('location')!);
    const back = await http('GET', `${callback.pathname}${callback.search}`);
    expect(back.status).toBe(302);
    expect(back.headers.get('location')).toBe('/ui/');
    const cookie = back.headers.getSetCookie()[0]!.split(';')[0]!;
    const me = await http('GET', '/v1/me', { headers: { cookie } });
    expect(me.body).toMatchObject({ kind: 'user', email, role: 'viewer' });
    const replay = await http('GET', `${callback.pathname}${callback.search}`);
    expect(replay.status).toBe(400);
    expect(replay.text).toMatch(/Start again/);
    expect(replay.headers.getSetCookie()).toEqual([]);
  });

  it('single sign-on refuses another domain with a clear page and creates nobody', async () => {
    issuer.nextUser = { sub: 'evil', email: 'mallory@evil.test', email_verified: true };
    const start = await http('GET', '/ui/oidc/start');
    const atIssuer = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    const callback = new URL(atIssuer.headers.get('location')!);
    const back = await http('GET', `${callback.pathname}${callback.search}`);
    expect(back.status).toBe(403);
    expect(back.text).toContain('evil.test cannot sign in here');
    expect((await stack.db.selectFrom('users').select('id').where('email', '=', 'mallory@evil.test').execute()).length).toBe(0);
    expect(logs.join('\n')).not.toContain(issuer.clientSecret);
  });
});
