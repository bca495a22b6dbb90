import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../scripts/free-port.js';

/** A private redis-server on a random port, for tests that kill and restart Redis. */
export interface PrivateRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startPrivateRedis(opts: { persistence?: boolean; dir?: string; maxmemoryPolicy?: string } = {}): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const args = () => [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--maxmemory-policy', opts.maxmemoryPolicy ?? 'noeviction',
    // fsync on every write: a SIGKILLed server then keeps everything it acknowledged.
    '--appendonly', opts.persistence ? 'yes' : 'no', ...(opts.persistence ? ['--appendfsync', 'always'] : []), ...(opts.dir ? ['--dir', opts.dir] : []),
  ];
  const start = async () => {
    child = spawn('redis-server', args(), { stdio: 'ignore' });
    const started = child;
    // A test file that dies (or forgets to stop it) must not leave the server running.
    process.once('exit', () => started.kill('SIGKILL'));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {}); // refused while the server starts: expected, retried below
      try {
        await probe.connect();
        await probe.ping();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error('private redis-server did not start');
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        probe.disconnect();
      }
    }
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, start, stop };
}
