import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../lib/auth/api-keys.js';
import { createApp } from './app.js';
import { startStack, type TestStack } from '../../test/stack.js';

const errorShape = expect.objectContaining({ error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }) });

describe('web app basics', () => {
  let stack: TestStack;
  let viewerKey: string;
  let workspaceId: string;

  beforeAll(async () => {
    stack = await startStack({ workers: false });
    const admin = await stack.db.selectFrom('api_keys').select(['workspace_id']).executeTakeFirstOrThrow();
    workspaceId = admin.workspace_id;
    viewerKey = 'cvy_viewer_key_for_tests_0123456789';
    await stack.db
      .insertInto('api_keys')
      .values({ workspace_id: workspaceId, name: 'viewer', role: 'viewer', secret_hash: hashSecret(viewerKey), prefix: 'cvy_vi' })
      .execute();
  });
  afterAll(() => stack.close());

  it('answers /healthz and /readyz', async () => {
    expect(await stack.request('GET', '/healthz', { key: null })).toMatchObject({ status: 200, body: { status: 'ok' } });
    const ready = await stack.request('GET', '/readyz', { key: null });
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toMatchObject({ database: 'ok', migrations: 'ok' });
  });

  it('serves the OpenAPI document and a docs page without a key', async () => {
    const spec = await stack.request('GET', '/openapi.json', { key: null });
    expect(spec.status).toBe(200);
    expect(spec.body.openapi).toBe('3.1.0');
    for (const path of ['/v1/workflows', '/v1/workflows/{idOrName}/runs', '/v1/runs/{id}', '/v1/runs/{id}/cancel', '/v1/runs/{id}/retry', '/v1/providers']) {
      expect(Object.keys(spec.body.paths)).toContain(path);
    }
    const docs = await stack.app.request('/docs');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('/openapi.json');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await stack.request('GET', '/nope/../../etc/passwd', { key: null });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(errorShape);
    expect(res.headers.get('content-type')).toContain('application/json');
  });

  it('requires a valid Bearer key on /v1', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer cvy_wrong' }, { authorization: 'Basic abc' }, { authorization: `Bearer ${stack.adminKey} extra` }]) {
      const res = await stack.request('GET', '/v1/workflows', { key: null, headers });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(errorShape);
    }
    expect((await stack.request('GET', '/v1/workflows')).status).toBe(200);
  });

  it('enforces roles: a viewer cannot create', async () => {
    const res = await stack.request('POST', '/v1/workflows', { key: viewerKey, body: { name: 'x', nodes: [{ id: 'a', type: 'noop' }] } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
  });

  it('revocation takes effect at once', async () => {
    const key = 'cvy_revoke_me_0123456789abcdef';
    await stack.db.insertInto('api_keys').values({ workspace_id: workspaceId, name: 'tmp', role: 'viewer', secret_hash: hashSecret(key), prefix: 'cvy_re' }).execute();
    expect((await stack.request('GET', '/v1/workflows', { key })).status).toBe(200);
    await stack.db.updateTable('api_keys').set({ revoked_at: new Date() }).where('name', '=', 'tmp').execute();
    expect((await stack.request('GET', '/v1/workflows', { key })).status).toBe(401);
  });

  it('answers an unexpected error with a bare 500 and a request id, never a stack', async () => {
    // A fresh app: routes cannot be added to one that has already answered requests.
    const app = createApp({ db: stack.db, queues: stack.queues, config: stack.config, log: stack.log, engine: stack.engine, queueNames: [] });
    app.get('/v1/__boom', () => {
      throw new Error('internal detail that must not leak');
    });
    const raw = await app.request('/v1/__boom', { headers: { authorization: `Bearer ${stack.adminKey}`, 'x-request-id': 'req-123' } });
    const res = { status: raw.status, headers: raw.headers, body: (await raw.json()) as any };
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'internal_error', message: expect.stringContaining('req-123') } });
    expect(JSON.stringify(res.body)).not.toContain('internal detail');
    expect(res.headers.get('x-request-id')).toBe('req-123');
  });

  it('guards Bull Board: 401 with a Basic challenge, 403 for non-admins, 200 for an admin by Bearer or Basic', async () => {
    const anon = await stack.request('GET', '/admin/queues', { key: null });
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(anon.body).toEqual(errorShape);
    expect((await stack.request('GET', '/admin/queues', { key: viewerKey })).status).toBe(403);
    const bearer = await stack.app.request('/admin/queues', { headers: { authorization: `Bearer ${stack.adminKey}` } });
    expect(bearer.status).toBe(200);
    expect(await bearer.text()).toContain('<html');
    const basic = Buffer.from(`ops:${stack.adminKey}`).toString('base64');
    const api = await stack.app.request('/admin/queues/api/queues', { headers: { authorization: `Basic ${basic}` } });
    expect(api.status).toBe(200);
    const names = ((await api.json()) as { queues: { name: string }[] }).queues.map((q) => q.name);
    expect(names).toEqual(expect.arrayContaining(['nodes', 'control']));
  });
});
