import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRIES, startProcess, type AppProcess } from './process.js';
import { backends, startStack, waitForRun, type TestStack } from './stack.js';
import { startTargetServer, type TargetServer } from './target-server.js';

describe.each(backends())('worker faults on the %s backend', (backend) => {
  let stack: TestStack;
  let target: TargetServer;
  const procs: AppProcess[] = [];

  beforeAll(async () => {
    target = await startTargetServer();
    stack = await startStack({ backend, workers: false, env: { NODE_LOCK_MS: '2000', HTTP_ALLOW_HOSTS: '127.0.0.1' } });
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await stack.close();
    await target.close();
  });

  const worker = async () => {
    const p = startProcess(ENTRIES.worker, { ...stack.env, WORKER_CONCURRENCY: '5' });
    procs.push(p);
    await p.waitFor(/worker consuming/);
    return p;
  };

  it('a worker SIGKILLed mid-node: the node is retried on another worker and the run completes', async () => {
    let calls = 0;
    // The first call outlasts a worker's start-up, so `a` surely holds the node when killed.
    target.route('GET', '/kill-me', (_req, res) => {
      calls += 1;
      const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), calls === 1 ? 8000 : 100);
      res.on('close', () => clearTimeout(timer));
    });
    await stack.request('POST', '/v1/workflows', {
      body: {
        name: 'kill-me',
        nodes: [
          { id: 'slow', type: 'http.request', params: { url: `${target.url}/kill-me` } },
          { id: 'after', type: 'noop' },
        ],
        edges: [{ from: 'slow', to: 'after' }],
      },
    });
    const a = await worker();
    const { body } = await stack.request('POST', '/v1/workflows/kill-me/runs', { body: {} });
    const deadline = Date.now() + 15_000;
    while (!target.requests.some((r) => r.path.startsWith('/kill-me'))) {
      if (Date.now() > deadline) throw new Error('the node never reached the target');
      await new Promise((r) => setTimeout(r, 20));
    }
    await worker();
    await a.stop('SIGKILL');
    const run = await waitForRun(stack, body.id, 30_000);
    expect(run.status).toBe('succeeded');
    const slow = run.nodes.find((n: { id: string }) => n.id === 'slow');
    expect(slow.attempts).toBe(2);
    expect(target.requests.filter((r) => r.path.startsWith('/kill-me'))).toHaveLength(2);
    const events = await stack.db.selectFrom('run_events').select('type').where('run_id', '=', body.id).where('node_id', '=', 'after').execute();
    expect(events.filter((e) => e.type === 'node.started')).toHaveLength(1);
  }, 60_000);

  it('SIGTERM drains the node in flight before exiting', async () => {
    await stack.request('POST', '/v1/workflows', { body: { name: 'drain', nodes: [{ id: 'slow', type: 'http.request', params: { url: `${target.url}/slow?ms=800` } }] } });
    const w = await worker();
    const before = target.requests.length;
    const { body } = await stack.request('POST', '/v1/workflows/drain/runs', { body: {} });
    const deadline = Date.now() + 15_000;
    while (target.requests.length === before) {
      if (Date.now() > deadline) throw new Error('the node never reached the target');
      await new Promise((r) => setTimeout(r, 20));
    }
    const { code } = await w.stop('SIGTERM');
    expect(code).toBe(0);
    const run = await waitForRun(stack, body.id, 5_000);
    expect(run.status).toBe('succeeded');
    expect(run.nodes[0].attempts).toBe(1);
  }, 60_000);
});
