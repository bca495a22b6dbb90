import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../test/redis-server.js';
import { createTestDatabase, type TestDatabase } from '../test/database.js';
import { createQueueBackend, type QueueBackend } from './queue.js';

function capture() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

async function until(check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('queue backends', () => {
  let evicting: PrivateRedis;
  let database: TestDatabase;
  const opened: QueueBackend[] = [];

  beforeAll(async () => {
    evicting = await startPrivateRedis({ maxmemoryPolicy: 'allkeys-lru' });
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(opened.map((q) => q.close()));
    await evicting.stop();
    await database.drop();
  });

  it('warns at start-up when Redis may evict queued jobs', async () => {
    const { log, lines } = capture();
    const queues = createQueueBackend({ REDIS_URL: evicting.url, DATABASE_URL: database.url, QUEUE_PREFIX: 'q' }, log);
    opened.push(queues);
    await queues.ping();
    await until(() => lines.some((l) => l.level === 40 && /noeviction/.test(l.msg)));
    expect(lines.find((l) => /noeviction/.test(l.msg))).toMatchObject({ policy: 'allkeys-lru' });
  });

  it('does not warn on a noeviction Redis', async () => {
    const url = inject('redisUrl');
    if (!url) return expect(url).toBe(''); // No shared Redis on this machine: the Redis half does not run.
    const { log, lines } = capture();
    const queues = createQueueBackend({ REDIS_URL: url, DATABASE_URL: database.url, QUEUE_PREFIX: `q${randomBytes(3).toString('hex')}` }, log);
    opened.push(queues);
    await queues.ping();
    await new Promise((r) => setTimeout(r, 200));
    expect(lines.filter((l) => /noeviction/.test(l.msg))).toEqual([]);
  });

  it('runs the same jobs on both backends: the callers never see which', async () => {
    for (const config of [{ DATABASE_URL: database.url, QUEUE_PREFIX: 'pg' }, { REDIS_URL: evicting.url, DATABASE_URL: database.url, QUEUE_PREFIX: 'r' }]) {
      const queues = createQueueBackend(config, pino({ level: 'silent' }));
      opened.push(queues);
      const seen: unknown[] = [];
      const worker = queues.worker('probe', async (job) => void seen.push(job.data), { concurrency: 1 });
      await queues.queue('probe').add('x', { n: 1 }, { jobId: 'only-once' });
      await queues.queue('probe').add('x', { n: 2 }, { jobId: 'only-once' });
      await until(() => seen.length === 1);
      await new Promise((r) => setTimeout(r, 200));
      expect(seen).toEqual([{ n: 1 }]);
      await worker.close();
    }
  });
});
