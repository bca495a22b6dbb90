import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../../test/stack.js';

const valid = {
  name: 'order-sync',
  description: 'sync orders',
  nodes: [
    { id: 'fetch', type: 'http.request', params: { method: 'GET', url: 'https://shop.example/orders/{{ input.orderId }}' }, retry: { attempts: 3, backoff: 'exponential', delayMs: 500 }, timeoutMs: 10000 },
    { id: 'big', type: 'transform', when: '{{ nodes.fetch.output.body.total > 100 }}', params: { value: { id: '{{ nodes.fetch.output.body.id }}', flag: 'big' } } },
  ],
  edges: [{ from: 'fetch', to: 'big' }],
};

describe('workflow API', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
  });
  afterAll(() => stack.close());

  it('creates, reads by id and by name, versions on PUT, lists and archives', async () => {
    const created = await stack.request('POST', '/v1/workflows', { body: valid });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), name: 'order-sync', version: 1 });
    const byName = await stack.request('GET', '/v1/workflows/order-sync');
    const byId = await stack.request('GET', `/v1/workflows/${created.body.id}`);
    expect(byName.body).toEqual(byId.body);
    expect(byName.body.nodes).toHaveLength(2);

    const updated = await stack.request('PUT', '/v1/workflows/order-sync', { body: { ...valid, description: 'v2' } });
    expect(updated.status).toBe(200);
    expect(updated.body.version).toBe(2);
    const versions = await stack.request('GET', '/v1/workflows/order-sync/versions');
    expect(versions.body.items.map((v: { version: number }) => v.version)).toEqual([2, 1]);

    expect((await stack.request('POST', '/v1/workflows', { body: valid })).status).toBe(409);
    expect((await stack.request('GET', '/v1/workflows')).body.items.map((w: { name: string }) => w.name)).toContain('order-sync');

    expect((await stack.request('DELETE', '/v1/workflows/order-sync')).status).toBe(204);
    expect((await stack.request('GET', '/v1/workflows/order-sync')).status).toBe(404);
    // Archived: still readable by id, and the name is free again.
    expect((await stack.request('GET', `/v1/workflows/${created.body.id}`)).body.archived).toBe(true);
    expect((await stack.request('POST', '/v1/workflows', { body: valid })).status).toBe(201);
  });

  it('lists every problem at once, each with a JSON pointer', async () => {
    const res = await stack.request('POST', '/v1/workflows', {
      body: {
        name: 'broken',
        nodes: [
          { id: 'a', type: 'nope' },
          { id: 'a', type: 'noop' },
          { id: 'b', type: 'http.request', params: { method: 'FETCH', url: 'https://x' } },
          { id: 'c', type: 'transform', params: { value: '{{ 1 + }}' } },
          { id: 'd', type: 'noop', when: '{{ nodes.c.output }}' },
          { id: 'e', type: 'noop' },
          { id: 'f', type: 'noop' },
        ],
        edges: [{ from: 'a', to: 'ghost' }, { from: 'e', to: 'f' }, { from: 'f', to: 'e' }],
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    const byPointer = Object.fromEntries(res.body.error.details.map((d: { pointer: string; message: string }) => [d.pointer, d.message]));
    expect(byPointer['/nodes/0/type']).toMatch(/unknown node type 'nope'/);
    expect(byPointer['/nodes/1/id']).toMatch(/duplicate/);
    expect(byPointer['/nodes/2/params/method']).toBeDefined();
    expect(Object.keys(byPointer).some((p) => p.startsWith('/nodes/3/params'))).toBe(true);
    expect(byPointer['/nodes/4/when']).toMatch(/not upstream/);
    expect(byPointer['/edges/0/to']).toMatch(/unknown node 'ghost'/);
    expect(byPointer['/edges']).toMatch(/cycle: (e -> f -> e|f -> e -> f)/);
  });

  it.each([
    ['bad name', { ...valid, name: 'Bad Name' }, '/name'],
    ['bad node id', { ...valid, nodes: [{ id: '1x', type: 'noop' }], edges: [] }, '/nodes/0/id'],
    ['retry attempts 0', { ...valid, nodes: [{ id: 'a', type: 'noop', retry: { attempts: 0 } }], edges: [] }, '/nodes/0/retry/attempts'],
    ['retry attempts 51', { ...valid, nodes: [{ id: 'a', type: 'noop', retry: { attempts: 51 } }], edges: [] }, '/nodes/0/retry/attempts'],
    ['timeout 0', { ...valid, nodes: [{ id: 'a', type: 'noop', timeoutMs: 0 }], edges: [] }, '/nodes/0/timeoutMs'],
    ['timeout too long', { ...valid, nodes: [{ id: 'a', type: 'noop', timeoutMs: 86_400_001 }], edges: [] }, '/nodes/0/timeoutMs'],
    ['no nodes', { ...valid, nodes: [], edges: [] }, '/nodes'],
    ['unknown key', { ...valid, nodez: [] }, '/'],
    ['too many nodes', { ...valid, nodes: Array.from({ length: 501 }, (_, i) => ({ id: `n${i}`, type: 'noop' })), edges: [] }, '/nodes'],
    ['bad webhook path', { ...valid, webhook: { path: '../etc' } }, '/webhook/path'],
  ])('rejects %s with a pointer', async (_label, body, pointer) => {
    const res = await stack.request('POST', '/v1/workflows', { body });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { pointer: string }) => d.pointer)).toContain(pointer);
  });

  it('rejects a body that is not a JSON object', async () => {
    for (const body of ['[]', '"x"', 'not json', '{"name":']) {
      const res = await stack.request('POST', '/v1/workflows', { body });
      expect(res.status, body).toBe(400);
      expect(res.body.error).toBeDefined();
    }
  });

  it('serves providers with params as JSON Schema', async () => {
    const res = await stack.request('GET', '/v1/providers');
    expect(res.status).toBe(200);
    const types = res.body.items.map((p: { type: string }) => p.type);
    expect(types).toEqual(expect.arrayContaining(['noop', 'transform', 'http.request', 'llm.chat']));
    const http = res.body.items.find((p: { type: string }) => p.type === 'http.request');
    expect(http.params.type).toBe('object');
    expect(http.params.properties.url).toBeDefined();
    expect(http.credential).toEqual(expect.arrayContaining(['bearer', 'basic', 'header']));
  });
});
