import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../scripts/free-port.js';

const run = promisify(execFile);

export interface PrivateRedisCluster {
  /** Any one node: what REDIS_URL names with REDIS_CLUSTER=true. */
  url: string;
  ports: number[];
  stop(): Promise<void>;
}

/** Whether this machine can start a cluster: redis-server and redis-cli on the PATH. */
export function redisClusterAvailable(): boolean {
  return ['redis-server', 'redis-cli'].every((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0);
}

/** Three masters on random ports, slots spread by `redis-cli --cluster create`, ready when every node says ok. */
export async function startRedisCluster(masters = 3): Promise<PrivateRedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'conveyor-cluster-'));
  const ports: number[] = [];
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise<void>((resolve) => { c.once('exit', () => resolve()); c.kill('SIGKILL'); }))));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i += 1) {
      const port = await freePort();
      ports.push(port);
      const child = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000',
        '--maxmemory-policy', 'noeviction', '--dir', dir,
      ], { stdio: 'ignore' });
      children.push(child);
      process.once('exit', () => child.kill('SIGKILL'));
    }
    for (const port of ports) await waitFor(() => ping(port), 'a cluster node to start');
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    for (const port of ports) await waitFor(() => clusterOk(port), 'cluster_state:ok on every node');
    return { url: `redis://127.0.0.1:${ports[0]}`, ports, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function withNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {}); // refused while the node starts: the caller retries
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

const ping = (port: number) => withNode(port, async (r) => (await r.ping()) === 'PONG');
const clusterOk = (port: number) => withNode(port, async (r) => String(await r.cluster('INFO')).includes('cluster_state:ok'));
