import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeJobId } from '../jobs.js';
import { startTargetServer, type TargetServer } from '../../test/target-server.js';
import { backends, runToCompletion, startStack, waitForRun, type TestStack } from '../../test/stack.js';
import { sweep } from './sweeper.js';

const byId = (run: { nodes: { id: string }[] }) => Object.fromEntries(run.nodes.map((n) => [n.id, n])) as Record<string, any>;

async function eventTypes(stack: TestStack, runId: string) {
  const rows = await stack.db.selectFrom('run_events').select(['id', 'type', 'node_id']).where('run_id', '=', runId).orderBy('id').execute();
  return rows;
}

describe.each(backends())('engine on the %s backend', (backend) => {
  let stack: TestStack;
  let target: TargetServer;

  beforeAll(async () => {
    target = await startTargetServer();
    stack = await startStack({ backend, env: { HTTP_ALLOW_HOSTS: '127.0.0.1', MAX_NODE_OUTPUT_BYTES: '4096' } });
  });
  afterAll(async () => {
    await stack.close();
    await target.close();
  });

  it('runs a single node and records output, events and timestamps', async () => {
    const run = await runToCompletion(stack, { name: 'one', nodes: [{ id: 'a', type: 'transform', params: { value: { n: '{{ input.n }}' } } }] }, { n: 7 });
    expect(run).toMatchObject({ status: 'succeeded', output: { a: { n: 7 } }, trigger: { type: 'api' }, workflowName: 'one', version: 1 });
    expect(run.nodes).toEqual([expect.objectContaining({ id: 'a', status: 'succeeded', attempts: 1, output: { n: 7 }, error: null })]);
    expect(run.startedAt).toBeTruthy();
    expect(run.finishedAt).toBeTruthy();
    const events = await eventTypes(stack, run.id);
    expect(events.map((e) => e.type)).toEqual(['run.queued', 'run.started', 'node.queued', 'node.started', 'node.succeeded', 'run.succeeded']);
  });

  it('passes outputs along a chain through Postgres, with the raw-value rule', async () => {
    const run = await runToCompletion(stack, {
      name: 'chain',
      nodes: [
        { id: 'a', type: 'transform', params: { value: { items: [1, 2, 3], label: 'x' } } },
        { id: 'b', type: 'transform', params: { value: { items: '{{ nodes.a.output.items }}', text: 'label={{ nodes.a.output.label }}', sum: '{{ $sum(nodes.a.output.items) }}' } } },
        { id: 'c', type: 'noop', params: { from: '{{ nodes.b.output }}' } },
      ],
      edges: [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }],
    });
    expect(run.status).toBe('succeeded');
    expect(byId(run).b.output).toEqual({ items: [1, 2, 3], text: 'label=x', sum: 6 });
    expect(Object.keys(run.output)).toEqual(['c']);
  });

  it('fans out and in: the join runs once, after every branch', async () => {
    const branches = Array.from({ length: 8 }, (_, i) => ({ id: `b${i}`, type: 'transform', params: { value: i } }));
    const run = await runToCompletion(stack, {
      name: 'fan',
      nodes: [{ id: 'start', type: 'noop' }, ...branches, { id: 'join', type: 'transform', params: { value: '{{ [nodes.b0.output, nodes.b7.output] }}' } }],
      edges: [...branches.map((b) => ({ from: 'start', to: b.id })), ...branches.map((b) => ({ from: b.id, to: 'join' }))],
    });
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ join: [0, 7] });
    const events = await eventTypes(stack, run.id);
    expect(events.filter((e) => e.node_id === 'join' && e.type === 'node.started')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'run.succeeded')).toHaveLength(1);
  });

  it('skips on a false when-guard and propagates the skip; a node with one live branch still runs', async () => {
    const run = await runToCompletion(
      stack,
      {
        name: 'guards',
        nodes: [
          { id: 'a', type: 'transform', params: { value: { total: 50 } } },
          { id: 'big', type: 'noop', when: '{{ nodes.a.output.total > 100 }}' },
          { id: 'afterBig', type: 'noop' },
          { id: 'small', type: 'noop', when: '{{ nodes.a.output.total <= 100 }}' },
          { id: 'join', type: 'noop' },
        ],
        edges: [
          { from: 'a', to: 'big' },
          { from: 'big', to: 'afterBig' },
          { from: 'a', to: 'small' },
          { from: 'afterBig', to: 'join' },
          { from: 'small', to: 'join' },
        ],
      },
    );
    const nodes = byId(run);
    expect(run.status).toBe('succeeded');
    expect(nodes.big).toMatchObject({ status: 'skipped', error: { code: 'condition_false' } });
    expect(nodes.afterBig).toMatchObject({ status: 'skipped', error: { code: 'upstream_skipped' } });
    expect(nodes.small.status).toBe('succeeded');
    expect(nodes.join.status).toBe('succeeded');
  });

  it('fails a run once, skipping downstream with upstream_failed', async () => {
    const run = await runToCompletion(stack, {
      name: 'fails',
      nodes: [
        { id: 'call', type: 'http.request', params: { url: `${target.url}/status/500` } },
        { id: 'next', type: 'noop' },
        { id: 'other', type: 'noop' },
      ],
      edges: [{ from: 'call', to: 'next' }],
    });
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'node_failed', message: expect.stringContaining("node 'call' failed") });
    const nodes = byId(run);
    expect(nodes.call).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'http_status' } });
    expect(nodes.next).toMatchObject({ status: 'skipped', error: { code: 'upstream_failed' } });
    expect(nodes.other.status).toBe('succeeded');
    const events = await eventTypes(stack, run.id);
    expect(events.filter((e) => e.type === 'run.failed')).toHaveLength(1);
    expect(events.filter((e) => e.type.startsWith('run.') && e.type !== 'run.queued' && e.type !== 'run.started')).toHaveLength(1);
  });

  it('retries with backoff, recording each attempt', async () => {
    let calls = 0;
    target.route('GET', '/flaky', (_req, res) => {
      calls += 1;
      res.writeHead(calls < 3 ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ calls }));
    });
    const run = await runToCompletion(stack, {
      name: 'retries',
      nodes: [{ id: 'call', type: 'http.request', params: { url: `${target.url}/flaky` }, retry: { attempts: 4, backoff: 'fixed', delayMs: 50 } }],
    });
    expect(run.status).toBe('succeeded');
    expect(byId(run).call).toMatchObject({ status: 'succeeded', attempts: 3, output: { status: 200, body: { calls: 3 } } });
    const events = await eventTypes(stack, run.id);
    expect(events.filter((e) => e.type === 'node.retrying')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'node.started')).toHaveLength(3);
  });

  it('gives up after the last attempt', async () => {
    const run = await runToCompletion(stack, {
      name: 'retries-exhausted',
      nodes: [{ id: 'call', type: 'http.request', params: { url: `${target.url}/status/502` }, retry: { attempts: 2, backoff: 'exponential', delayMs: 20 } }],
    });
    expect(run.status).toBe('failed');
    expect(byId(run).call).toMatchObject({ status: 'failed', attempts: 2 });
  });

  it('aborts a node at its timeout', async () => {
    const run = await runToCompletion(stack, {
      name: 'timeout',
      nodes: [{ id: 'slow', type: 'http.request', params: { url: `${target.url}/slow?ms=5000` }, timeoutMs: 300 }],
    });
    expect(byId(run).slow).toMatchObject({ status: 'failed', error: { code: 'timeout' } });
  });

  it('fails a node whose output is too large, without retrying', async () => {
    const run = await runToCompletion(
      stack,
      { name: 'big-output', nodes: [{ id: 'a', type: 'transform', params: { value: '{{ input.s }}' }, retry: { attempts: 3, delayMs: 10 } }] },
      { s: 'x'.repeat(5000) },
    );
    expect(byId(run).a).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'output_too_large' } });
  });

  it('reports an expression error naming the node, the param and the expression', async () => {
    const run = await runToCompletion(stack, { name: 'bad-expr', nodes: [{ id: 'a', type: 'transform', params: { value: '{{ input.missing.deep }}' } }] }, {});
    const a = byId(run).a;
    expect(a.status).toBe('failed');
    expect(a.error.message).toContain("'a'");
    expect(a.error.message).toContain('/params/value');
    expect(a.error.message).toContain('input.missing.deep');
  });

  it('answers a repeated Idempotency-Key with the same run and 200', async () => {
    await stack.request('POST', '/v1/workflows', { body: { name: 'idem', nodes: [{ id: 'a', type: 'noop' }] } });
    const headers = { 'idempotency-key': 'order-42' };
    const first = await stack.request('POST', '/v1/workflows/idem/runs', { body: {}, headers });
    const second = await stack.request('POST', '/v1/workflows/idem/runs', { body: {}, headers });
    expect(first.status).toBe(202);
    expect(first.body.status).toBe('queued');
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    const count = await stack.db.selectFrom('runs').select((eb) => eb.fn.countAll<number>().as('n')).where('idempotency_key', '=', 'order-42').executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);
  });

  it('ignores a duplicate delivery: nothing recorded twice, no successor started twice', async () => {
    const run = await runToCompletion(stack, { name: 'dup', nodes: [{ id: 'a', type: 'noop' }, { id: 'b', type: 'noop' }], edges: [{ from: 'a', to: 'b' }] });
    const before = await eventTypes(stack, run.id);
    // Enqueue node a again by hand, under a fresh job id so the queue cannot dedupe it.
    await stack.queues.queue('nodes').add('noop', { runId: run.id, nodeId: 'a' }, { jobId: `${nodeJobId(run.id, 'a')}.again` });
    await stack.queues.queue('nodes').add('noop', { runId: run.id, nodeId: 'b' }, { jobId: `${nodeJobId(run.id, 'b')}.again` });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await eventTypes(stack, run.id)).toEqual(before);
    const after = await waitForRun(stack, run.id);
    expect(after.nodes.map((n: any) => n.attempts)).toEqual([1, 1]);
  });

  it('recovers when the queue lost every job: the sweeper re-enqueues from Postgres', async () => {
    for (const w of stack.workers.splice(0)) await w.close();
    await stack.request('POST', '/v1/workflows', { body: { name: 'lost', nodes: [{ id: 'a', type: 'noop' }, { id: 'b', type: 'noop' }], edges: [{ from: 'a', to: 'b' }] } });
    const started = await stack.request('POST', '/v1/workflows/lost/runs', { body: {} });
    await stack.queues.queue('nodes').obliterate({ force: true });
    expect(await stack.queues.queue('nodes').getJob(nodeJobId(started.body.id, 'a'))).toBeFalsy();
    const result = await sweep(stack.engine, { graceMs: 0 });
    expect(result).toMatchObject({ swept: true, reenqueued: 1 });
    stack.startWorkers();
    expect((await waitForRun(stack, started.body.id)).status).toBe('succeeded');
  });
});
