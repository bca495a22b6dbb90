import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import { ENTRIES, startProcess, type AppProcess } from './process.js';
import { redisClusterAvailable, startRedisCluster, type PrivateRedisCluster } from './redis-cluster.js';
import { startStack, waitForRun, type TestStack } from './stack.js';
import { startTargetServer, type TargetServer } from './target-server.js';

async function slotOwner(client: Cluster, key: string): Promise<number> {
  const slot = Number(await client.cluster('KEYSLOT', key));
  const ranges = await client.cluster('SLOTS');
  return ranges.find(([from, to]) => slot >= from && slot <= to)![2]![1];
}

async function prefixAwayFrom(cluster: PrivateRedisCluster): Promise<string> {
  const client = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }]);
  try {
    for (;;) {
      const prefix = `{cl${randomBytes(4).toString('hex')}}`;
      if ((await slotOwner(client, prefix)) !== cluster.ports[0]) return prefix;
    }
  } finally {
    client.disconnect();
  }
}

/**
 * The engine on a real three-master Redis Cluster: what the README tells operators to set
 * (REDIS_CLUSTER=true, a QUEUE_PREFIX with a {hash tag}) is exactly what runs here.
 */
const available = redisClusterAvailable();
if (!available) console.log('redis-cluster.test.ts: skipped, redis-server or redis-cli is not installed (apt-get install redis-server)');

describe.skipIf(!available)('the engine on a three-master Redis Cluster', () => {
  let cluster: PrivateRedisCluster;
  let stack: TestStack;
  let target: TargetServer;
  let scheduler: AppProcess | undefined;
  let prefix = '';

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    // A slot the seed node does not own: a client that ignored the cluster would be MOVED away.
    prefix = await prefixAwayFrom(cluster);
    target = await startTargetServer();
    stack = await startStack({
      backend: 'redis',
      env: { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', QUEUE_PREFIX: prefix, HTTP_ALLOW_HOSTS: '127.0.0.1' },
    });
    for (const body of [
      {
        name: 'fan',
        nodes: [
          { id: 'start', type: 'noop' },
          ...['a', 'b', 'c', 'd'].map((id) => ({ id, type: 'transform', params: { value: id } })),
          { id: 'join', type: 'transform', params: { value: '{{ [nodes.a.output, nodes.b.output, nodes.c.output, nodes.d.output] }}' } },
        ],
        edges: [...['a', 'b', 'c', 'd'].flatMap((id) => [{ from: 'start', to: id }, { from: id, to: 'join' }])],
      },
      { name: 'nap', nodes: [{ id: 'wait', type: 'delay', params: { ms: 700 } }, { id: 'after', type: 'noop' }], edges: [{ from: 'wait', to: 'after' }] },
      { name: 'slow', nodes: [{ id: 'call', type: 'http.request', params: { method: 'GET', url: `${target.url}/slow?ms=10000` } }] },
      { name: 'beat', nodes: [{ id: 'a', type: 'noop' }] },
    ]) {
      const res = await stack.request('POST', '/v1/workflows', { body });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
  }, 90_000);
  afterAll(async () => {
    await scheduler?.stop('SIGKILL');
    await stack?.close();
    await target?.close();
    await cluster?.stop();
  });

  const start = async (name: string) => {
    const res = await stack.request('POST', `/v1/workflows/${name}/runs`, { body: {} });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body.id as string;
  };

  it('refuses a cluster without a hash-tagged prefix, naming the fix', () => {
    expect(() => loadConfig({ ...stack.env, QUEUE_PREFIX: 'conveyor' })).toThrow(/QUEUE_PREFIX: must contain a \{hash tag\}.*\{conveyor\}/);
  });

  it('runs a fan-out and join, several at once', async () => {
    const runs = await Promise.all(Array.from({ length: 10 }, () => start('fan')));
    for (const id of runs) {
      const run = await waitForRun(stack, id);
      expect(run.status).toBe('succeeded');
      expect(run.nodes.find((n: { id: string }) => n.id === 'join').output).toEqual(['a', 'b', 'c', 'd']);
    }
    // The queue really lives on the cluster: every key sits in the one slot the hash tag names.
    const client = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }]);
    try {
      const port = await slotOwner(client, prefix);
      const node = client.nodes('master').find((n) => n.options.port === port)!;
      expect((await node.keys(`${prefix}:*`)).length).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
  });

  it('parks a delay and wakes it', async () => {
    const started = Date.now();
    const run = await waitForRun(stack, await start('nap'));
    expect(run.status).toBe('succeeded');
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
  });

  it('cancels a running node', async () => {
    const id = await start('slow');
    for (let i = 0; i < 200; i += 1) {
      const run = await stack.request('GET', `/v1/runs/${id}`);
      if (run.body.nodes[0].status === 'running') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const cancelledAt = Date.now();
    expect((await stack.request('POST', `/v1/runs/${id}/cancel`)).status).toBe(202);
    const run = await waitForRun(stack, id);
    expect(run.status).toBe('cancelled');
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
  });

  it('fires a schedule from a scheduler process', async () => {
    scheduler = startProcess(ENTRIES.scheduler, { ...stack.env, SHUTDOWN_GRACE_MS: '5000', SCHEDULE_MISFIRE_GRACE_MS: '6000' });
    await scheduler.waitFor(/scheduler started/, 45_000);
    const res = await stack.request('POST', '/v1/schedules', { body: { workflow: 'beat', cron: '*/1 * * * * *' } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const deadline = Date.now() + 15_000;
    let done: { status: string }[] = [];
    while (done.length < 2 && Date.now() < deadline) {
      done = await stack.db.selectFrom('runs').select('status').where('schedule_id', '=', res.body.id).where('status', '=', 'succeeded').execute();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(done.length).toBeGreaterThanOrEqual(2);
    expect((await scheduler.stop('SIGTERM', 10_000)).code).toBe(0);
    scheduler = undefined;
  });
});
