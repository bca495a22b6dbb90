import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, runToCompletion, startStack, waitForRun, type TestStack } from '../../test/stack.js';

/** A node's params: `count` expressions of a few milliseconds each. */
const manyExpressions = (count: number) =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`p${i}`, `{{ $count($map([1..3000], function($v){ $v * ${i} })) }}`]));

/**
 * One tenant's expressions must not stall everyone's: a node's expressions count against its
 * timeout and a budget, and nodes share the sandbox expression by expression. Before, three
 * nodes of a thousand cheap expressions ran 8–15 s and delayed another workflow's run by 10–19 s.
 */
describe.each(backends())('expression budgets on the %s backend', (backend) => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack({ backend });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("counts a node's expressions against its timeoutMs", async () => {
    const run = await runToCompletion(stack, {
      name: 'slow-params',
      nodes: [{ id: 'n', type: 'transform', timeoutMs: 200, params: { value: manyExpressions(1000) } }],
    });
    const node = run.nodes[0];
    // Whichever stops it first: the node's clock (which now runs while its params resolve) or the
    // expression budget, which is never longer than the node's timeout.
    expect(node.status).toBe('failed');
    expect(`${node.error.code}: ${node.error.message}`).toMatch(/^(timeout: node 'n' timed out after 200 ms|expression_timeout: .*past their budget of 200 ms)/);
    expect(new Date(node.finishedAt).getTime() - new Date(node.startedAt).getTime()).toBeLessThan(3_000);
  });

  it("a light run is not held up by another workflow's heavy expressions", async () => {
    const heavy = { name: 'heavy-params', nodes: [{ id: 'h', type: 'transform', params: { value: manyExpressions(1000) } }] };
    expect((await stack.request('POST', '/v1/workflows', { body: heavy })).status).toBe(201);
    expect((await stack.request('POST', '/v1/workflows', { body: { name: 'light', nodes: [{ id: 'l', type: 'transform', params: { value: '{{ input.n + 1 }}' } }] } })).status).toBe(201);
    const heavyRuns = await Promise.all([1, 2, 3].map(() => stack.request('POST', '/v1/workflows/heavy-params/runs', { body: {} })));
    await new Promise((r) => setTimeout(r, 150));
    const light = await stack.request('POST', '/v1/workflows/light/runs', { body: { input: { n: 1 } } });
    const lightRun = await waitForRun(stack, light.body.id);
    expect(lightRun).toMatchObject({ status: 'succeeded', output: { l: 2 } });
    const heavies = await Promise.all(heavyRuns.map((r) => waitForRun(stack, r.body.id)));
    for (const h of heavies) {
      // Each stopped by its budget (1 s of evaluation), not left to run its thousand expressions.
      expect(h.nodes[0]).toMatchObject({ status: 'failed', error: { code: 'expression_timeout' } });
    }
    const lightEnd = new Date(lightRun.finishedAt).getTime();
    expect(lightEnd).toBeLessThan(Math.min(...heavies.map((h) => new Date(h.finishedAt).getTime())));
  }, 30_000);
});
