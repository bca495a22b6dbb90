import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runToCompletion, startStack, type TestStack } from '../../test/stack.js';
import { startTargetServer, type TargetServer } from '../../test/target-server.js';

/** GET /v1/runs/:id shows each node's params as it ran: what the console's node panel reads. */
describe('resolved params', () => {
  let stack: TestStack;
  let target: TargetServer;
  beforeAll(async () => {
    target = await startTargetServer();
    stack = await startStack({ env: { HTTP_ALLOW_HOSTS: '127.0.0.1' } });
  });
  afterAll(async () => {
    await stack?.close();
    await target?.close();
  });
  const node = (run: { nodes: { id: string }[] }, id: string) => run.nodes.find((n) => n.id === id) as Record<string, any>;

  it('records the params a node ran with, expressions resolved, on success and on failure', async () => {
    const token = 'sekret-token-0123456789';
    expect((await stack.request('POST', '/v1/credentials', { body: { name: 'tok', type: 'bearer', data: { token } } })).status).toBe(201);
    const run = await runToCompletion(stack, {
      name: 'resolved',
      nodes: [
        { id: 'a', type: 'transform', params: { value: { n: '{{ input.n * 2 }}', label: 'n={{ input.n }}' } } },
        { id: 'b', type: 'http.request', credential: 'tok', params: { method: 'GET', url: `${target.url}/status/500?n={{ nodes.a.output.n }}`, headers: { 'x-echo': `${token}` } } },
        { id: 'c', type: 'noop' },
      ],
      edges: [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }],
    }, { n: 21 });
    expect(run.status).toBe('failed');
    expect(node(run, 'a').params).toEqual({ value: { n: 42, label: 'n=21' } });
    const b = node(run, 'b');
    expect(b.status).toBe('failed');
    expect(b.params.url).toBe(`${target.url}/status/500?n=42`);
    // A secret written into params is redacted like in outputs and errors.
    expect(JSON.stringify(b.params)).not.toContain(token);
    // A node that never ran has none.
    expect(node(run, 'c').params).toBeNull();
  });

  it('keeps only the size of params too big to be worth reading', async () => {
    const run = await runToCompletion(stack, { name: 'big-params', nodes: [{ id: 'big', type: 'transform', params: { value: '{{ $pad("", 100000, "x") }}' } }] });
    expect(run.status).toBe('succeeded');
    expect(node(run, 'big').params).toEqual({ truncated: true, bytes: expect.any(Number) });
    expect(node(run, 'big').output).toHaveLength(100_000);
  });
});
