import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../../lib/auth/api-keys.js';
import { credentialResolver } from '../../../lib/credentials/resolver.js';
import { createKeyring } from '../../../lib/crypto.js';
import { startStack, type TestStack } from '../../../test/stack.js';

describe('API keys', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
  });
  afterAll(() => stack.close());

  it('issues a cvy_ secret once, stores only its sha256, tracks last use and revokes at once', async () => {
    const created = await stack.request('POST', '/v1/api-keys', { body: { name: 'ci', role: 'editor' } });
    expect(created.status).toBe(201);
    const { id, secret, prefix } = created.body;
    expect(secret).toMatch(/^cvy_[A-Za-z0-9_-]{43}$/);
    expect(secret.startsWith(prefix)).toBe(true);
    expect(prefix.length).toBeLessThan(12);
    const row = await stack.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.secret_hash.equals(hashSecret(secret))).toBe(true);
    expect(JSON.stringify(row)).not.toContain(secret.slice(prefix.length));

    const listed = async () => (await stack.request('GET', '/v1/api-keys')).body.items.find((k: { id: string }) => k.id === id);
    expect(await listed()).toMatchObject({ name: 'ci', role: 'editor', lastUsedAt: null });
    expect(JSON.stringify(await listed())).not.toContain(secret);
    expect((await stack.request('GET', '/v1/workflows', { key: secret })).status).toBe(200);
    await expect.poll(async () => (await listed()).lastUsedAt, { timeout: 5000 }).not.toBeNull();

    expect((await stack.request('DELETE', `/v1/api-keys/${id}`)).status).toBe(204);
    expect((await stack.request('GET', '/v1/workflows', { key: secret })).status).toBe(401);
    expect(await listed()).toBeUndefined();
    expect((await stack.request('DELETE', `/v1/api-keys/${id}`)).status).toBe(404);
  });
});

describe('credentials', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
  });
  afterAll(() => stack.close());

  it('answers with name, type, timestamps and masked hints only, for every type', async () => {
    const cases = [
      { type: 'bearer', data: { token: 'tok_live_1234567890abcdef' }, hints: { token: 'tok_…cdef' } },
      { type: 'basic', data: { username: 'svc', password: 'correct horse battery' }, hints: { username: 'svc', password: '…tery' } },
      { type: 'header', data: { name: 'X-Api-Key', value: 'hv-99887766554433' }, hints: { name: 'X-Api-Key', value: 'hv-…4433' } },
      { type: 'openai', data: { apiKey: 'sk-proj-abcdefghij7f3a', baseUrl: 'https://llm.example/v1' }, hints: { apiKey: 'sk-…7f3a', baseUrl: 'https://llm.example/v1' } },
      { type: 'hmac', data: { secret: 'whsec_0011223344556677' }, hints: { secret: '…6677' } },
    ];
    for (const c of cases) {
      const res = await stack.request('POST', '/v1/credentials', { body: { name: `cred-${c.type}`, type: c.type, data: c.data } });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(['createdAt', 'hints', 'id', 'name', 'type', 'updatedAt']);
      expect(res.body.hints).toEqual(c.hints);
      const got = await stack.request('GET', `/v1/credentials/${res.body.id}`);
      expect(got.body).toEqual(res.body);
    }
    const list = JSON.stringify((await stack.request('GET', '/v1/credentials')).body);
    for (const c of cases) for (const [k, v] of Object.entries(c.data)) if (!['username', 'name', 'baseUrl'].includes(k)) expect(list).not.toContain(v);
  });

  it('binds a ciphertext to its row: copied to another credential or workspace it fails to decrypt', async () => {
    const a = (await stack.request('POST', '/v1/credentials', { body: { name: 'bound-a', type: 'bearer', data: { token: 'token-of-a-123' } } })).body;
    const b = (await stack.request('POST', '/v1/credentials', { body: { name: 'bound-b', type: 'bearer', data: { token: 'token-of-b-456' } } })).body;
    const resolve = credentialResolver(stack.db, createKeyring(stack.config.ENCRYPTION_KEYS));
    const wsId = (await stack.db.selectFrom('credentials').select('workspace_id').where('id', '=', a.id).executeTakeFirstOrThrow()).workspace_id;
    expect(await resolve(wsId, 'bound-b')).toEqual({ type: 'bearer', data: { token: 'token-of-b-456' } });
    await sql`update credentials set nonce = src.nonce, ciphertext = src.ciphertext from credentials src where src.id = ${a.id} and credentials.id = ${b.id}`.execute(stack.db);
    await expect(resolve(wsId, 'bound-b')).rejects.toThrow(/failed to decrypt/);
    expect(await resolve(wsId, 'bound-a')).toEqual({ type: 'bearer', data: { token: 'token-of-a-123' } });
    const other = await stack.db.insertInto('workspaces').values({ name: 'elsewhere' }).returning('id').executeTakeFirstOrThrow();
    await sql`update credentials set workspace_id = ${other.id} where id = ${a.id}`.execute(stack.db);
    await expect(resolve(other.id, 'bound-a')).rejects.toThrow(/failed to decrypt/);
  });
});

describe('Bull Board', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
  });
  afterAll(() => stack.close());

  it("is for the default workspace's admins only: another workspace's admin gets 403", async () => {
    const ws = await stack.request('POST', '/v1/workspaces', { body: { name: 'tenant' } });
    const res = await stack.app.request('/admin/queues/api/queues', { headers: { authorization: `Bearer ${ws.body.apiKey.secret}` } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error.code).toBe('forbidden');
    const basic = Buffer.from(`x:${ws.body.apiKey.secret}`).toString('base64');
    expect((await stack.app.request('/admin/queues/api/queues/nodes/obliterate', { method: 'PUT', headers: { authorization: `Basic ${basic}` } })).status).toBe(403);
    expect((await stack.app.request('/admin/queues/api/queues', { headers: { authorization: `Bearer ${stack.adminKey}` } })).status).toBe(200);
  });
});
