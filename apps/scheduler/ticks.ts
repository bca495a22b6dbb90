import { UnrecoverableError, type Job } from 'bullmq';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { SCHEDULE_QUEUE, scheduleJobSchema } from '../../lib/jobs.js';
import type { JobWorker } from '../../lib/queue.js';
import { fireTick, type TickOutcome, type TickSettings } from '../../lib/schedules/tick.js';

/** Ticks are short (a few queries); each one in flight holds up to two pooled connections. */
export const TICK_CONCURRENCY = 4;
/** A scheduler killed mid-tick hands its tick to another within about twice this. */
const TICK_LOCK_MS = 5_000;

/**
 * A job scheduler's job id is `repeat:<schedulerId>:<nextMillis>`: the tick's fire time, the
 * same on every delivery of that tick, whichever scheduler takes it.
 */
export function tickFireTime(job: Pick<Job, 'id' | 'opts'>): Date {
  const fromId = /^repeat:.+:(\d+)$/.exec(job.id ?? '')?.[1];
  const millis = fromId ? Number(fromId) : job.opts.prevMillis;
  if (!millis) throw new UnrecoverableError(`tick job ${job.id} carries no fire time`);
  return new Date(millis);
}

const QUIET: ReadonlySet<TickOutcome> = new Set(['started', 'duplicate']);

/** The scheduler process's consumer of cron ticks: one line into `fireTick`. */
export function startTickConsumer(deps: EngineDeps, settings: TickSettings): JobWorker {
  const worker = deps.queues.worker(
    SCHEDULE_QUEUE,
    async (job) => {
      const data = scheduleJobSchema.safeParse(job.data);
      if (!data.success) throw new UnrecoverableError('malformed schedule tick payload');
      const fireTime = tickFireTime(job);
      const firstDelivery = job.attemptsStarted <= 1 && !job.stalledCounter;
      const outcome = await fireTick(deps, { scheduleId: data.data.scheduleId, fireTime, firstDelivery }, settings);
      const line = { scheduleId: data.data.scheduleId, scheduledFor: fireTime.toISOString(), outcome, lateMs: Date.now() - fireTime.getTime() };
      if (QUIET.has(outcome)) deps.log.debug(line, 'schedule tick');
      else deps.log.info(line, `schedule tick ${outcome.replace('_', ' ')}`);
      return outcome;
    },
    { concurrency: TICK_CONCURRENCY, lockDuration: TICK_LOCK_MS, stalledInterval: TICK_LOCK_MS, maxStalledCount: 5 },
  );
  worker.on('error', (err) => deps.log.warn({ queue: SCHEDULE_QUEUE, err: err.message }, 'tick worker error'));
  worker.on('failed', (job, err) => deps.log.warn({ jobId: job?.id, attempts: job?.attemptsMade, err: err.message }, 'schedule tick failed; BullMQ retries it'));
  return worker;
}
