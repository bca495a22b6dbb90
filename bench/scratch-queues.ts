import { pino } from 'pino';
import { allQueueNames } from '../lib/engine/queues.js';
import { createQueueBackend } from '../lib/queue.js';

/**
 * Removes every queue a benchmark's processes used under its scratch prefix from Redis, which
 * outlives the benchmark (its scratch database is dropped; on the PostgreSQL backend the queues
 * go with it). A shared Redis keeps nobody's leftovers: nor do later runs measure them in
 * `used_memory`.
 */
export async function dropScratchQueues(env: Record<string, string | undefined>): Promise<void> {
  if (!env.REDIS_URL || !env.QUEUE_PREFIX) return;
  const queues = createQueueBackend({ REDIS_URL: env.REDIS_URL, DATABASE_URL: env.DATABASE_URL ?? '', QUEUE_PREFIX: env.QUEUE_PREFIX }, pino({ level: 'silent' }));
  try {
    for (const name of allQueueNames()) await queues.queue(name).obliterate({ force: true }).catch(() => {});
  } finally {
    await queues.close();
  }
}
