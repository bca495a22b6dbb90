import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetServer, type TargetServer } from '../../test/target-server.js';
import { backends, runToCompletion, startStack, waitForRun, type TestStack } from '../../test/stack.js';

const byId = (run: { nodes: { id: string }[] }) => Object.fromEntries(run.nodes.map((n) => [n.id, n])) as Record<string, any>;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(backends())('cancel and rerun on the %s backend', (backend) => {
  let stack: TestStack;
  let target: TargetServer;

  beforeAll(async () => {
    target = await startTargetServer();
    stack = await startStack({ backend, env: { HTTP_ALLOW_HOSTS: '127.0.0.1' } });
  });
  afterAll(async () => {
    await stack.close();
    await target.close();
  });

  it('cancel aborts a running http.request within a second and discards its result', async () => {
    await stack.request('POST', '/v1/workflows', {
      body: {
        name: 'cancel-running',
        nodes: [
          { id: 'slow', type: 'http.request', params: { url: `${target.url}/slow?ms=10000&tag=cancel` } },
          { id: 'after', type: 'noop' },
        ],
        edges: [{ from: 'slow', to: 'after' }],
      },
    });
    const { body } = await stack.request('POST', '/v1/workflows/cancel-running/runs', { body: {} });
    await until('the slow request', () => target.requests.some((r) => r.path.includes('tag=cancel')));
    const cancelledAt = Date.now();
    const res = await stack.request('POST', `/v1/runs/${body.id}/cancel`);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: body.id, status: 'cancelled' });
    const request = target.requests.find((r) => r.path.includes('tag=cancel'))!;
    await until('the server to see the connection aborted', () => request.aborted === true, 1000);
    expect(Date.now() - cancelledAt).toBeLessThan(1000);

    const run = await waitForRun(stack, body.id);
    expect(run.status).toBe('cancelled');
    expect(byId(run).slow.status).toBe('cancelled');
    expect(byId(run).after.status).toBe('cancelled');
    const events = await stack.db.selectFrom('run_events').select('type').where('run_id', '=', body.id).execute();
    expect(events.filter((e) => e.type === 'run.cancelled')).toHaveLength(1);
    expect(events.some((e) => e.type === 'node.succeeded' || e.type === 'node.failed')).toBe(false);
  });

  it('cancel is idempotent; cancelling a finished run is 409; an unknown run is 404', async () => {
    await stack.request('POST', '/v1/workflows', { body: { name: 'cancel-twice', nodes: [{ id: 'slow', type: 'http.request', params: { url: `${target.url}/slow?ms=5000` } }] } });
    const { body } = await stack.request('POST', '/v1/workflows/cancel-twice/runs', { body: {} });
    expect((await stack.request('POST', `/v1/runs/${body.id}/cancel`)).status).toBe(202);
    expect((await stack.request('POST', `/v1/runs/${body.id}/cancel`)).status).toBe(202);

    const done = await runToCompletion(stack, { name: 'finished', nodes: [{ id: 'a', type: 'noop' }] });
    const res = await stack.request('POST', `/v1/runs/${done.id}/cancel`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('run_finished');
    expect((await stack.request('POST', '/v1/runs/00000000-0000-4000-8000-000000000000/cancel')).status).toBe(404);
  });

  it('a rerun after a mid-chain failure executes only the failed node and its descendants', async () => {
    let failing = true;
    const hits = { first: 0, flaky: 0, last: 0 };
    target.route('GET', '/rerun/first', (_req, res) => {
      hits.first += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 't1' }));
    });
    target.route('GET', '/rerun/flaky', (_req, res) => {
      hits.flaky += 1;
      res.writeHead(failing ? 500 : 200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: !failing }));
    });
    target.route('GET', '/rerun/last', (_req, res) => {
      hits.last += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const failed = await runToCompletion(stack, {
      name: 'rerun',
      nodes: [
        { id: 'first', type: 'http.request', params: { url: `${target.url}/rerun/first` } },
        { id: 'flaky', type: 'http.request', params: { url: `${target.url}/rerun/flaky`, headers: { 'x-token': '{{ nodes.first.output.body.token }}' } } },
        { id: 'last', type: 'http.request', params: { url: `${target.url}/rerun/last` } },
      ],
      edges: [{ from: 'first', to: 'flaky' }, { from: 'flaky', to: 'last' }],
    });
    expect(failed.status).toBe('failed');
    expect(hits).toEqual({ first: 1, flaky: 1, last: 0 });

    failing = false;
    const res = await stack.request('POST', `/v1/runs/${failed.id}/retry`);
    expect(res.status).toBe(202);
    expect(res.body.retryOf).toBe(failed.id);
    const rerun = await waitForRun(stack, res.body.id);
    expect(rerun).toMatchObject({ status: 'succeeded', retryOf: failed.id, trigger: { type: 'retry' }, version: failed.version });
    expect(hits).toEqual({ first: 1, flaky: 2, last: 1 });
    expect(byId(rerun).first).toMatchObject({ status: 'succeeded', output: { body: { token: 't1' } } });

    const original = await waitForRun(stack, failed.id);
    expect(original.status).toBe('failed');
    expect(byId(original).flaky.status).toBe('failed');
    expect((await stack.request('POST', `/v1/runs/${rerun.id}/retry`)).status).toBe(409);
  });

  it('priority orders queued node jobs: 1 before 10', async () => {
    await stack.request('POST', '/v1/workflows', { body: { name: 'prio', nodes: [{ id: 'a', type: 'noop' }] } });
    // Closed, not paused: a paused worker may already be blocked fetching the next job.
    for (const w of stack.workers.splice(0)) await w.close();
    try {
      const low = await stack.request('POST', '/v1/workflows/prio/runs', { body: { priority: 10 } });
      const high = await stack.request('POST', '/v1/workflows/prio/runs', { body: { priority: 1 } });
      expect([low.status, high.status]).toEqual([202, 202]);
      const waiting = await stack.queues.queue('nodes').getJobs(['prioritized', 'wait']);
      const order = waiting.sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0)).map((j) => j.data.runId);
      expect(order.indexOf(high.body.id)).toBeLessThan(order.indexOf(low.body.id));
    } finally {
      stack.startWorkers();
    }
  });

  it('a bad priority is a 400 that names the field and creates nothing', async () => {
    const before = await stack.db.selectFrom('runs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const res = await stack.request('POST', '/v1/workflows/prio/runs', { body: { priority: 0 } });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.error.details)).toContain('priority');
    const after = await stack.db.selectFrom('runs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });
});
