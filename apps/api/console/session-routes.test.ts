import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../../lib/auth/api-keys.js';
import { startStack, type TestStack } from '../../../test/stack.js';

const errorShape = (code: string) => ({ error: expect.objectContaining({ code, message: expect.any(String) }) });

/** The console's sign-in and the cookie standing in for a key on /v1, over real HTTP. */
describe('console sessions', () => {
  let stack: TestStack;
  let server: ServerType;
  let base: string;
  let workspaceId: string;
  const viewerKey = 'cvy_console_viewer_key_0123456789abcdef';

  beforeAll(async () => {
    stack = await startStack({ workers: false });
    workspaceId = (await stack.db.selectFrom('api_keys').select('workspace_id').executeTakeFirstOrThrow()).workspace_id;
    await stack.db.insertInto('api_keys').values({ workspace_id: workspaceId, name: 'viewer', role: 'viewer', secret_hash: hashSecret(viewerKey), prefix: 'cvy_co' }).execute();
    const wf = await stack.request('POST', '/v1/workflows', { body: { name: 'waits', nodes: [{ id: 'gate', type: 'wait.signal' }] } });
    expect(wf.status).toBe(201);
    server = serve({ fetch: stack.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await stack.close();
  });

  const http = async (method: string, path: string, opts: { headers?: Record<string, string>; body?: string } = {}) => {
    const res = await fetch(`${base}${path}`, { method, headers: opts.headers, body: opts.body, redirect: 'manual' });
    const text = await res.text();
    let body: any = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, headers: res.headers, body };
  };

  async function signIn(apiKey: string, headers: Record<string, string> = {}) {
    const res = await http('POST', '/ui/session', { headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ apiKey }) });
    expect(res.status).toBe(201);
    const setCookie = res.headers.getSetCookie()[0]!;
    const cookie = setCookie.split(';')[0]!;
    return { res, setCookie, cookie, csrf: res.body.csrfToken as string };
  }

  async function startWaitingRun(): Promise<string> {
    const run = await stack.request('POST', '/v1/workflows/waits/runs', { body: {} });
    expect(run.status).toBe(202);
    return run.body.id;
  }

  it('exchanges a key for an HttpOnly, SameSite=Strict cookie that never holds the key', async () => {
    const { res, setCookie, cookie } = await signIn(stack.adminKey);
    expect(setCookie).toMatch(/^conveyor_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).toMatch(/; Max-Age=43200/);
    expect(setCookie).not.toMatch(/Secure/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ role: 'admin', workspaceId, csrfToken: expect.any(String), csrfHeader: 'x-csrf-token' });
    expect(JSON.stringify(res.body)).not.toContain(stack.adminKey);
    expect(setCookie).not.toContain(stack.adminKey);
    // Only a hash of the token is stored, with a 12 h expiry.
    const row = await stack.db.selectFrom('console_sessions').selectAll().orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    expect(row.token_hash.toString('base64url')).not.toBe(cookie.split('=')[1]);
    expect(row.expires_at.getTime() - row.created_at.getTime()).toBe(12 * 3600 * 1000);
    expect(row).toMatchObject({ role: 'admin', workspace_id: workspaceId, revoked_at: null, user_id: null });

    const me = await http('GET', '/ui/session', { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ role: 'admin', csrfToken: res.body.csrfToken });
  });

  it('marks the cookie Secure behind an https proxy', async () => {
    const { setCookie } = await signIn(stack.adminKey, { 'x-forwarded-proto': 'https' });
    expect(setCookie).toMatch(/; Secure/);
  });

  it('refuses bad sign-ins with the JSON error shape', async () => {
    const post = (body: string | undefined, headers: Record<string, string> = { 'content-type': 'application/json' }) => http('POST', '/ui/session', { headers, body });
    expect(await post(JSON.stringify({ apiKey: 'cvy_nope' }))).toMatchObject({ status: 401, body: errorShape('unauthorized') });
    expect(await post(undefined)).toMatchObject({ status: 400, body: errorShape('validation_failed') });
    expect(await post('{"apiKey":')).toMatchObject({ status: 400, body: errorShape('malformed_json') });
    expect(await post(JSON.stringify({ apiKey: '' }))).toMatchObject({ status: 400, body: errorShape('validation_failed') });
    expect(await post(JSON.stringify({ apiKey: stack.adminKey, extra: 1 }))).toMatchObject({ status: 400, body: errorShape('validation_failed') });
    expect(await post(JSON.stringify({ apiKey: 'x'.repeat(300) }))).toMatchObject({ status: 400, body: errorShape('validation_failed') });
    // A cross-site form (urlencoded or text/plain) cannot sign a victim in with the attacker's key.
    expect(await post(`apiKey=${stack.adminKey}`, { 'content-type': 'application/x-www-form-urlencoded' })).toMatchObject({ status: 415, body: errorShape('unsupported_media_type') });
    expect(await post(JSON.stringify({ apiKey: stack.adminKey }), { 'content-type': 'text/plain' })).toMatchObject({ status: 415 });
    expect(await post(JSON.stringify({ apiKey: stack.adminKey }), { 'content-type': 'application/json', origin: 'https://evil.example' })).toMatchObject({ status: 403, body: errorShape('forbidden') });
    expect(await post(JSON.stringify({ apiKey: stack.adminKey }), { 'content-type': 'application/json', origin: 'null' })).toMatchObject({ status: 403 });
    // Our own page, as the browser sends it (directly, or through a proxy that rewrote Host).
    expect((await post(JSON.stringify({ apiKey: stack.adminKey }), { 'content-type': 'application/json', origin: base })).status).toBe(201);
    expect((await post(JSON.stringify({ apiKey: stack.adminKey }), { 'content-type': 'application/json', origin: 'https://conveyor.example', 'x-forwarded-host': 'conveyor.example' })).status).toBe(201);
    expect(await http('GET', '/ui/session')).toMatchObject({ status: 401, body: errorShape('unauthorized') });
    expect(await http('GET', '/ui/session', { headers: { cookie: 'conveyor_session=garbage' } })).toMatchObject({ status: 401, body: errorShape('session_ended') });
    expect(await http('PUT', '/ui/session')).toMatchObject({ status: 404, body: errorShape('not_found') });
  });

  it('lets the cookie read /v1, and a mutation only with the CSRF header', async () => {
    const { cookie, csrf } = await signIn(stack.adminKey);
    expect((await http('GET', '/v1/workflows', { headers: { cookie } })).status).toBe(200);
    const runId = await startWaitingRun();
    // What a cross-site page could send: no body, a text/plain body, a form body; or a wrong token.
    const attempts: { headers: Record<string, string>; body?: string }[] = [
      { headers: { cookie } },
      { headers: { cookie, 'content-type': 'text/plain' }, body: '{}' },
      { headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' },
      { headers: { cookie, 'x-csrf-token': 'not-the-token' } },
      { headers: { cookie, 'x-csrf-token': '' } },
    ];
    for (const attempt of attempts) {
      const res = await http('POST', `/v1/runs/${runId}/cancel`, attempt);
      expect(res).toMatchObject({ status: 403, body: errorShape('csrf_failed') });
    }
    expect((await stack.request('GET', `/v1/runs/${runId}`)).body.status).not.toBe('cancelled');
    const ok = await http('POST', `/v1/runs/${runId}/cancel`, { headers: { cookie, 'x-csrf-token': csrf } });
    expect(ok.status).toBe(202);
    expect((await stack.request('GET', `/v1/runs/${runId}`)).body.status).toBe('cancelled');
    // The token of one session does not fit another.
    const other = await signIn(stack.adminKey);
    expect(other.csrf).not.toBe(csrf);
    const crossed = await http('POST', '/v1/workflows/waits/runs', { headers: { cookie: other.cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{}' });
    expect(crossed.status).toBe(403);
  });

  it("carries the key's role: a viewer's session reads but may not act", async () => {
    const { cookie, csrf, res } = await signIn(viewerKey);
    expect(res.body).toMatchObject({ role: 'viewer', bullBoard: null });
    expect((await http('GET', '/v1/runs', { headers: { cookie } })).status).toBe(200);
    const runId = await startWaitingRun();
    const cancel = await http('POST', `/v1/runs/${runId}/cancel`, { headers: { cookie, 'x-csrf-token': csrf } });
    expect(cancel).toMatchObject({ status: 403, body: errorShape('forbidden') });
    const signal = await http('POST', `/v1/runs/${runId}/nodes/gate/signal`, { headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{"payload":1}' });
    expect(signal.status).toBe(403);
    expect((await http('GET', '/v1/system', { headers: { cookie } })).status).toBe(403);
  });

  it('streams run events to the cookie (EventSource sends it same-origin)', async () => {
    const { cookie } = await signIn(stack.adminKey);
    const runId = await startWaitingRun();
    await stack.request('POST', `/v1/runs/${runId}/cancel`);
    const res = await fetch(`${base}/v1/runs/${runId}/events`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(await res.text()).toContain('event: run.cancelled');
  });

  it('signs out: DELETE needs the CSRF token, then the old cookie is 401 everywhere', async () => {
    const { cookie, csrf } = await signIn(stack.adminKey);
    expect(await http('DELETE', '/ui/session', { headers: { cookie } })).toMatchObject({ status: 403, body: errorShape('csrf_failed') });
    const out = await http('DELETE', '/ui/session', { headers: { cookie, 'x-csrf-token': csrf } });
    expect(out.status).toBe(204);
    expect(out.headers.getSetCookie()[0]).toMatch(/^conveyor_session=;.*Max-Age=0/);
    expect(await http('GET', '/v1/workflows', { headers: { cookie } })).toMatchObject({ status: 401, body: errorShape('unauthorized') });
    expect((await http('GET', '/ui/session', { headers: { cookie } })).status).toBe(401);
    // Signing out twice (or with no session) is harmless.
    expect((await http('DELETE', '/ui/session', { headers: { cookie } })).status).toBe(204);
  });

  it('ends the session when its key is revoked, and after 12 hours', async () => {
    const created = await stack.request('POST', '/v1/api-keys', { body: { name: 'temp', role: 'editor' } });
    expect(created.status).toBe(201);
    const { cookie } = await signIn(created.body.secret);
    expect((await http('GET', '/v1/workflows', { headers: { cookie } })).status).toBe(200);
    expect((await stack.request('DELETE', `/v1/api-keys/${created.body.id}`)).status).toBe(204);
    expect(await http('GET', '/v1/workflows', { headers: { cookie } })).toMatchObject({ status: 401, body: errorShape('unauthorized') });

    const second = await signIn(stack.adminKey);
    expect((await http('GET', '/v1/workflows', { headers: { cookie: second.cookie } })).status).toBe(200);
    await stack.db.updateTable('console_sessions').set({ expires_at: new Date(Date.now() - 1000) }).where('revoked_at', 'is', null).execute();
    expect((await http('GET', '/v1/workflows', { headers: { cookie: second.cookie } })).status).toBe(401);
    expect((await http('GET', '/ui/session', { headers: { cookie: second.cookie } })).status).toBe(401);
  });

  it('leaves Bearer keys as they were: the header wins over a cookie', async () => {
    const bearer = await http('GET', '/v1/workflows', { headers: { authorization: `Bearer ${stack.adminKey}`, cookie: 'conveyor_session=garbage' } });
    expect(bearer.status).toBe(200);
    const wrong = await http('GET', '/v1/workflows', { headers: { authorization: 'Bearer cvy_wrong' } });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'unauthorized', message: 'Send an API key as `Authorization: Bearer <key>`.' } } });
    expect((await http('POST', '/v1/workflows/waits/runs', { headers: { authorization: `Bearer ${stack.adminKey}` } })).status).toBe(202);
  });
});

describe('console page serving', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
  });
  afterAll(() => stack.close());

  it('redirects / to /ui/ and serves the page for every client route with a strict CSP', async () => {
    const root = await stack.app.request('/');
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/ui/');
    for (const path of ['/ui/', '/ui/runs/123', '/ui/workflows/a/b']) {
      const res = await stack.app.request(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      const html = await res.text();
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/https?:\/\//);
    }
  });

  it('serves hashed assets with a year-long immutable cache, and a JSON 404 for others', async () => {
    const html = await (await stack.app.request('/ui/')).text();
    const assets = [...html.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const asset of assets) {
      expect(asset).toMatch(/-[A-Za-z0-9_-]{8}\.(js|css)$/);
      const res = await stack.app.request(asset);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type')).toMatch(/^(text\/javascript|text\/css)/);
    }
    const missing = await stack.app.request('/ui/assets/nope-12345678.js');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject(errorShape('not_found'));
    expect((await stack.app.request('/ui/assets/../../package.json')).status).not.toBe(200);
  });
});
