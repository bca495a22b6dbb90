import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../../test/stack.js';

/** GET /v1/workflows/:idOrName?version=N: an earlier version's definition (the console diffs two). */
describe('reading a workflow at a version', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
    expect((await stack.request('POST', '/v1/workflows', { body: { name: 'versioned', description: 'first', nodes: [{ id: 'a', type: 'noop' }] } })).status).toBe(201);
    expect((await stack.request('PUT', '/v1/workflows/versioned', { body: { name: 'versioned', description: 'second', nodes: [{ id: 'a', type: 'noop' }, { id: 'b', type: 'noop' }], edges: [{ from: 'a', to: 'b' }] } })).status).toBe(200);
  });
  afterAll(() => stack.close());

  it('answers the latest by default and an earlier version when asked', async () => {
    const latest = await stack.request('GET', '/v1/workflows/versioned');
    expect(latest.body).toMatchObject({ version: 2, description: 'second', nodes: [{ id: 'a' }, { id: 'b' }] });
    expect(latest.body.latestVersion).toBeUndefined();
    const first = await stack.request('GET', '/v1/workflows/versioned?version=1');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ version: 1, latestVersion: 2, description: 'first', nodes: [{ id: 'a', type: 'noop' }], edges: [] });
    expect((await stack.request('GET', `/v1/workflows/${latest.body.id}?version=2`)).body).toMatchObject({ version: 2, nodes: [{ id: 'a' }, { id: 'b' }] });
  });

  it('refuses versions that do not exist or are not versions', async () => {
    expect(await stack.request('GET', '/v1/workflows/versioned?version=9')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    for (const bad of ['0', '-1', 'abc', '1.5']) {
      expect(await stack.request('GET', `/v1/workflows/versioned?version=${bad}`)).toMatchObject({ status: 400, body: { error: { code: 'validation_failed' } } });
    }
  });
});
