import { describe, expect, it } from 'vitest';
import { useFaultStack } from './fault-stack.js';
import { backends, waitForRun } from './stack.js';

describe.each(backends())('worker faults on the %s backend', (backend) => {
  const f = useFaultStack(backend, 5);

  it('a worker SIGKILLed mid-node: the node is retried on another worker and the run completes', async () => {
    f.slowFirstCall('/kill-me', 8000, 100);
    await f.stack.request('POST', '/v1/workflows', {
      body: {
        name: 'kill-me',
        nodes: [
          { id: 'slow', type: 'http.request', params: { url: `${f.target.url}/kill-me` } },
          { id: 'after', type: 'noop' },
        ],
        edges: [{ from: 'slow', to: 'after' }],
      },
    });
    const a = await f.worker();
    const { body } = await f.stack.request('POST', '/v1/workflows/kill-me/runs', { body: {} });
    const deadline = Date.now() + 15_000;
    while (!f.target.requests.some((r) => r.path.startsWith('/kill-me'))) {
      if (Date.now() > deadline) throw new Error('the node never reached the target');
      await new Promise((r) => setTimeout(r, 20));
    }
    await f.worker();
    await a.stop('SIGKILL');
    const run = await waitForRun(f.stack, body.id, 30_000);
    expect(run.status).toBe('succeeded');
    const slow = run.nodes.find((n: { id: string }) => n.id === 'slow');
    expect(slow.attempts).toBe(2);
    expect(f.target.requests.filter((r) => r.path.startsWith('/kill-me'))).toHaveLength(2);
    const events = await f.stack.db.selectFrom('run_events').select('type').where('run_id', '=', body.id).where('node_id', '=', 'after').execute();
    expect(events.filter((e) => e.type === 'node.started')).toHaveLength(1);
  }, 60_000);

  it('SIGTERM drains the node in flight before exiting', async () => {
    await f.stack.request('POST', '/v1/workflows', { body: { name: 'drain', nodes: [{ id: 'slow', type: 'http.request', params: { url: `${f.target.url}/slow?ms=800` } }] } });
    const w = await f.worker();
    const before = f.target.requests.length;
    const { body } = await f.stack.request('POST', '/v1/workflows/drain/runs', { body: {} });
    const deadline = Date.now() + 15_000;
    while (f.target.requests.length === before) {
      if (Date.now() > deadline) throw new Error('the node never reached the target');
      await new Promise((r) => setTimeout(r, 20));
    }
    const { code } = await w.stop('SIGTERM');
    expect(code).toBe(0);
    const run = await waitForRun(f.stack, body.id, 5_000);
    expect(run.status).toBe('succeeded');
    expect(run.nodes[0].attempts).toBe(1);
  }, 60_000);
});
