import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startStack, waitForRun, type TestStack } from '../../test/stack.js';

const byId = (run: { nodes: { id: string }[] }) => Object.fromEntries(run.nodes.map((n) => [n.id, n])) as Record<string, any>;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(backends())('workflow.run on the %s backend', (backend) => {
  let stack: TestStack;

  beforeAll(async () => {
    // Two slots: a parent that held its slot while its child waits would deadlock here.
    stack = await startStack({ backend, concurrency: 2, env: { MAX_RUN_DEPTH: '3' } });
    const defs = [
      { name: 'child-ok', nodes: [{ id: 'echo', type: 'noop', params: { got: 'child' } }] },
      { name: 'child-fails', nodes: [{ id: 'gate', type: 'wait.signal', params: { timeoutMs: 50 } }] },
      { name: 'child-waits', nodes: [{ id: 'gate', type: 'wait.signal' }] },
      { name: 'parent', nodes: [{ id: 'sub', type: 'workflow.run', params: { workflow: 'child-ok', input: { n: 1 } } }, { id: 'after', type: 'noop' }], edges: [{ from: 'sub', to: 'after' }] },
      { name: 'parent-of-failure', nodes: [{ id: 'sub', type: 'workflow.run', params: { workflow: 'child-fails' } }] },
      { name: 'parent-of-waiter', nodes: [{ id: 'sub', type: 'workflow.run', params: { workflow: 'child-waits' } }] },
      { name: 'orphan', nodes: [{ id: 'sub', type: 'workflow.run', params: { workflow: 'no-such-workflow' } }] },
      { name: 'ouroboros', nodes: [{ id: 'again', type: 'workflow.run', params: { workflow: 'ouroboros' } }] },
    ];
    for (const body of defs) {
      const res = await stack.request('POST', '/v1/workflows', { body });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
  });
  afterAll(() => stack.close());

  const start = async (name: string) => (await stack.request('POST', `/v1/workflows/${name}/runs`, { body: {} })).body.id as string;
  const children = (parentId: string) =>
    stack.db.selectFrom('runs').select(['id', 'status', 'parent_run_id', 'depth', 'trigger_type']).where('parent_run_id', '=', parentId).execute();

  it("the node's output is the child's output; the child shows its parent", async () => {
    const parentId = await start('parent');
    const run = await waitForRun(stack, parentId);
    expect(run.status).toBe('succeeded');
    expect(byId(run).sub.output).toEqual({ echo: { got: 'child' } });
    expect(byId(run).after.status).toBe('succeeded');
    const [child] = await children(parentId);
    expect(child).toMatchObject({ status: 'succeeded', depth: 1, trigger_type: 'workflow' });
    const shown = await stack.request('GET', `/v1/runs/${child!.id}`);
    expect(shown.body).toMatchObject({ parentRunId: parentId, parentNodeId: 'sub', trigger: { type: 'workflow' } });
    expect(byId(run).sub.childRunId).toBe(child!.id);
  });

  it("a failed child fails the node with the child's error", async () => {
    const run = await waitForRun(stack, await start('parent-of-failure'));
    expect(run.status).toBe('failed');
    expect(byId(run).sub.error).toMatchObject({ code: 'child_failed', message: expect.stringContaining('no signal within 50 ms') });
    expect(byId(run).sub.error.childError).toMatchObject({ code: 'node_failed' });
  });

  it('an unknown workflow fails the node clearly; recursion ends at the depth limit', async () => {
    const orphan = await waitForRun(stack, await start('orphan'));
    expect(byId(orphan).sub.error).toMatchObject({ code: 'workflow_not_found', message: expect.stringContaining('no-such-workflow') });

    const top = await start('ouroboros');
    const run = await waitForRun(stack, top, 30_000);
    expect(run.status).toBe('failed');
    const depths = await stack.db.selectFrom('runs').select(['depth', 'status', 'error']).where('workflow_id', '=', run.workflowId).orderBy('depth').execute();
    expect(depths.map((d) => d.depth)).toEqual([0, 1, 2, 3]);
    expect(depths.every((d) => d.status === 'failed')).toBe(true);
    const deepest = await stack.request('GET', `/v1/runs/${(await stack.db.selectFrom('runs').select('id').where('workflow_id', '=', run.workflowId).where('depth', '=', 3).executeTakeFirstOrThrow()).id}`);
    expect(byId(deepest.body).again.error).toMatchObject({ code: 'max_depth_exceeded', message: expect.stringContaining('MAX_RUN_DEPTH') });
  });

  it('cancelling the parent cancels the child; the parent node waits holding no slot', async () => {
    const parentId = await start('parent-of-waiter');
    await until('the child to wait', async () => {
      const [child] = await children(parentId);
      if (!child) return false;
      const shown = await stack.request('GET', `/v1/runs/${child.id}`);
      return byId(shown.body).gate.status === 'waiting';
    });
    const parent = await stack.request('GET', `/v1/runs/${parentId}`);
    expect(byId(parent.body).sub).toMatchObject({ status: 'waiting', waitingFor: expect.stringContaining('child run') });
    expect((await stack.request('POST', `/v1/runs/${parentId}/cancel`)).status).toBe(202);
    const [child] = await children(parentId);
    await until('the child to be cancelled', async () => (await stack.request('GET', `/v1/runs/${child!.id}`)).body.status === 'cancelled');
    expect((await stack.request('GET', `/v1/runs/${parentId}`)).body.status).toBe('cancelled');
  });

  it('cancelling a child fails its parent node with child_cancelled', async () => {
    const parentId = await start('parent-of-waiter');
    await until('the child', async () => (await children(parentId)).length === 1);
    const [child] = await children(parentId);
    await until('the parent node to wait', async () => byId((await stack.request('GET', `/v1/runs/${parentId}`)).body).sub.status === 'waiting');
    expect((await stack.request('POST', `/v1/runs/${child!.id}/cancel`)).status).toBe(202);
    const run = await waitForRun(stack, parentId);
    expect(run.status).toBe('failed');
    expect(byId(run).sub.error.code).toBe('child_cancelled');
  });
});
