import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsumers } from '../apps/worker/consumers.js';
import { sweep } from '../lib/engine/sweeper.js';
import { nodeJobId } from '../lib/jobs.js';
import { startFakeLlm, type FakeLlm } from './fake-llm.js';
import { startPrivateRedis, type PrivateRedis } from './redis-server.js';
import { backends, startStack, waitForRun, type TestStack } from './stack.js';

async function nodeStatus(stack: TestStack, runId: string, nodeId: string) {
  const { body } = await stack.request('GET', `/v1/runs/${runId}`);
  return body.nodes.find((n: { id: string }) => n.id === nodeId) as { status: string; attempts: number };
}

describe('Redis restarted empty: the sweeper re-creates the lost node jobs from Postgres', () => {
  let redis: PrivateRedis;
  let stack: TestStack;

  beforeAll(async () => {
    redis = await startPrivateRedis(); // no persistence: a restart loses everything
    stack = await startStack({ backend: 'redis', workers: false, env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  it('runs whose queued jobs vanished complete after one sweep', async () => {
    const definition = {
      name: 'survives-redis',
      nodes: [
        { id: 'left', type: 'transform', params: { value: '{{ input.n }}' } },
        { id: 'right', type: 'noop' },
        { id: 'join', type: 'transform', params: { value: '{{ nodes.left.output + 1 }}' } },
      ],
      edges: [{ from: 'left', to: 'join' }, { from: 'right', to: 'join' }],
    };
    expect((await stack.request('POST', '/v1/workflows', { body: definition })).status).toBe(201);
    const runIds: string[] = [];
    for (const n of [1, 2, 3]) {
      const started = await stack.request('POST', '/v1/workflows/survives-redis/runs', { body: { input: { n } } });
      expect(started.status).toBe(202);
      runIds.push(started.body.id);
    }
    const nodesQueue = stack.queues.queue('nodes');
    for (const id of runIds) expect(await nodesQueue.getJob(nodeJobId(id, 'left'))).toBeTruthy();

    await redis.stop(); // SIGKILL, nothing saved
    await redis.start(); // same port, empty
    const deadline = Date.now() + 10_000;
    for (;;) {
      // The queue's connection comes back on its own; until it has, commands fail fast.
      const jobs = await nodesQueue.getJobCounts('waiting', 'prioritized', 'delayed', 'active').catch((err: Error) => err);
      if (!(jobs instanceof Error) && Object.values(jobs).every((c) => c === 0)) break;
      if (Date.now() > deadline) throw new Error(`the restarted Redis never answered empty: ${jobs instanceof Error ? jobs.message : JSON.stringify(jobs)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const id of runIds) expect(await nodesQueue.getJob(nodeJobId(id, 'left'))).toBeFalsy();

    // Workers alone cannot help: the jobs are gone. Postgres still says the roots are queued.
    stack.startWorkers(4);
    await new Promise((r) => setTimeout(r, 500));
    for (const id of runIds) expect((await nodeStatus(stack, id, 'left')).status).toBe('queued');

    const swept = await sweep(stack.engine, { graceMs: 0 });
    expect(swept).toMatchObject({ swept: true, reenqueued: 6 }); // two roots per run
    for (const [i, id] of runIds.entries()) {
      const run = await waitForRun(stack, id);
      expect(run.status).toBe('succeeded');
      expect(run.output).toEqual({ join: i + 2 });
      expect(run.nodes.map((n: { attempts: number }) => n.attempts)).toEqual([1, 1, 1]);
    }
    // A second sweep finds nothing left to do.
    expect(await sweep(stack.engine, { graceMs: 0 })).toMatchObject({ swept: true, reenqueued: 0 });
  }, 60_000);
});

describe.each(backends())('WORKER_QUEUES on the %s backend', (backend) => {
  let stack: TestStack;
  let llm: FakeLlm;

  beforeAll(async () => {
    llm = await startFakeLlm();
    stack = await startStack({ backend, workers: false, env: { HTTP_ALLOW_HOSTS: '127.0.0.1' } });
    const credential = await stack.request('POST', '/v1/credentials', { body: { name: 'fake-llm', type: 'openai', data: { apiKey: 'sk-queue-test', baseUrl: llm.baseUrl } } });
    expect(credential.status).toBe(201);
  });
  afterAll(async () => {
    await stack?.close();
    await llm?.close();
  });

  it('a worker consuming only `llm` runs llm.chat nodes and leaves `nodes` jobs alone', async () => {
    stack.workers.push(...startConsumers(stack.engine, { concurrency: 2, queues: ['llm'] }));
    for (const body of [
      { name: 'plain', nodes: [{ id: 'a', type: 'noop' }] },
      { name: 'ask', nodes: [{ id: 'ask', type: 'llm.chat', credential: 'fake-llm', params: { model: 'm', messages: [{ role: 'user', content: 'ping' }] } }] },
    ]) {
      expect((await stack.request('POST', '/v1/workflows', { body })).status).toBe(201);
    }
    const plain = (await stack.request('POST', '/v1/workflows/plain/runs', { body: {} })).body.id;
    const ask = (await stack.request('POST', '/v1/workflows/ask/runs', { body: {} })).body.id;

    const asked = await waitForRun(stack, ask);
    expect(asked.status).toBe('succeeded');
    expect(asked.output).toMatchObject({ ask: { content: 'echo: ping' } });
    expect(llm.requests).toHaveLength(1);

    // The noop run had as long as the llm run took, and a while more: nothing may touch it.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await nodeStatus(stack, plain, 'a')).toMatchObject({ status: 'queued', attempts: 0 });
    const job = await stack.queues.queue('nodes').getJob(nodeJobId(plain, 'a'));
    expect(['waiting', 'prioritized']).toContain(await job?.getState());

    // A worker for `nodes` picks it up.
    stack.workers.push(...startConsumers(stack.engine, { concurrency: 2, queues: ['nodes'] }));
    expect((await waitForRun(stack, plain)).status).toBe('succeeded');
  }, 60_000);

  it('refuses an unknown queue name, listing the known ones', () => {
    expect(() => startConsumers(stack.engine, { concurrency: 1, queues: ['llm', 'gpu'] })).toThrow(/unknown queues: gpu \(known: nodes, llm/);
  });
});
