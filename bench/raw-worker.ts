import { pino } from 'pino';
import { createQueueBackend } from '../lib/queue.js';

/**
 * The baseline: a bare BullMQ worker doing nothing per job, on the same backend and with the
 * same connection settings as Conveyor's workers. Started as a child process by bench/run.ts.
 */
const log = pino({ level: 'warn' });
const queues = createQueueBackend(
  { REDIS_URL: process.env.REDIS_URL || undefined, DATABASE_URL: process.env.DATABASE_URL!, QUEUE_PREFIX: process.env.QUEUE_PREFIX ?? 'bench' },
  log,
);
const worker = queues.worker('raw', async () => null, { concurrency: Number(process.env.WORKER_CONCURRENCY ?? 10) });
await worker.waitUntilReady();
console.log(JSON.stringify({ msg: 'raw worker ready' }));
const stop = async () => {
  await worker.close();
  await queues.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
