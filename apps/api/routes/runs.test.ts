import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../../test/stack.js';

describe('runs API', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ workers: false, env: { MAX_RUN_INPUT_BYTES: '2048' } });
    await stack.request('POST', '/v1/workflows', { body: { name: 'w1', nodes: [{ id: 'a', type: 'noop' }] } });
    await stack.request('POST', '/v1/workflows', { body: { name: 'w2', nodes: [{ id: 'a', type: 'noop' }] } });
  });
  afterAll(() => stack.close());

  it('lists newest first with keyset pagination and filters', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await stack.request('POST', `/v1/workflows/${i % 2 ? 'w2' : 'w1'}/runs`, { body: {} })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await stack.request('GET', `/v1/runs?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.items.map((r: { id: string }) => r.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const w2 = await stack.request('GET', '/v1/runs?workflow=w2&limit=50');
    expect(w2.body.items).toHaveLength(3);
    expect(w2.body.items.every((r: { workflowName: string }) => r.workflowName === 'w2')).toBe(true);
    const running = await stack.request('GET', '/v1/runs?status=succeeded');
    expect(running.body.items).toEqual([]);
  });

  it('refuses bad inputs with 4xx JSON and creates nothing', async () => {
    const before = await stack.db.selectFrom('runs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const cases: [string, string, unknown, number][] = [
      ['POST', '/v1/workflows/w1/runs', { priority: 0 }, 400],
      ['POST', '/v1/workflows/w1/runs', { priority: 11 }, 400],
      ['POST', '/v1/workflows/w1/runs', { version: 99 }, 400],
      ['POST', '/v1/workflows/w1/runs', { input: 'x'.repeat(5000) }, 413],
      ['POST', '/v1/workflows/w1/runs', { surprise: true }, 400],
      ['POST', '/v1/workflows/ghost/runs', {}, 404],
      ['GET', '/v1/runs?limit=0', undefined, 400],
      ['GET', '/v1/runs?limit=1000', undefined, 400],
      ['GET', '/v1/runs?cursor=garbage', undefined, 400],
      ['GET', '/v1/runs?status=exploded', undefined, 400],
      ['GET', '/v1/runs/not-a-uuid', undefined, 400],
      ['GET', '/v1/runs/00000000-0000-4000-8000-000000000000', undefined, 404],
    ];
    for (const [method, path, body, status] of cases) {
      const res = await stack.request(method, path, { body });
      expect(res.status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 40)}`).toBe(status);
      expect(res.body.error.code).toEqual(expect.any(String));
    }
    const after = await stack.db.selectFrom('runs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  it('shows a run in the documented shape', async () => {
    const { body } = await stack.request('POST', '/v1/workflows/w1/runs', { body: { input: { x: 1 }, priority: 2 } });
    const run = await stack.request('GET', `/v1/runs/${body.id}`);
    expect(Object.keys(run.body)).toEqual(
      expect.arrayContaining(['id', 'workflowId', 'workflowName', 'version', 'status', 'input', 'output', 'error', 'trigger', 'retryOf', 'createdAt', 'startedAt', 'finishedAt', 'nodes']),
    );
    expect(run.body).toMatchObject({ input: { x: 1 }, priority: 2, trigger: { type: 'api' } });
    expect(run.body.nodes[0]).toMatchObject({ id: 'a', type: 'noop', status: 'queued', attempts: 0, waitingFor: expect.stringMatching(/^a worker: queued behind \d+ jobs$/) });
  });
});
