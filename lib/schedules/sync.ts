import { listFiringSchedules, lastScheduledFor } from '../../db/schedules.js';
import type { Database } from '../../db/database.js';
import { KEEP_COMPLETED, KEEP_FAILED, SCHEDULE_QUEUE, type ScheduleJob } from '../jobs.js';
import type { Logger } from '../logger.js';
import type { QueueBackend } from '../queue.js';
import { previousFireTime } from './cron.js';

/**
 * Postgres holds the schedules; BullMQ job schedulers (one per schedule, keyed by its id) fire
 * them. These functions put the second in line with the first, on either queue backend.
 */
export const TICK_JOB_NAME = 'tick';
/** A tick that fails (database down) is retried for about 8 minutes; its lateness is then ours, not a missed tick. */
const TICK_JOB_OPTS = { attempts: 10, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED };
/** Job states of a scheduler's next job that mean the chain of ticks is intact. */
const HEALTHY_STATES = new Set(['delayed', 'waiting', 'prioritized', 'active']);

export interface SchedulerTarget {
  id: string;
  cron: string;
  timezone: string;
}

export async function upsertScheduler(queues: QueueBackend, s: SchedulerTarget): Promise<void> {
  const data: ScheduleJob = { scheduleId: s.id };
  await queues.queue(SCHEDULE_QUEUE).upsertJobScheduler(s.id, { pattern: s.cron, tz: s.timezone }, { name: TICK_JOB_NAME, data, opts: TICK_JOB_OPTS });
}

export async function removeScheduler(queues: QueueBackend, scheduleId: string): Promise<void> {
  await queues.queue(SCHEDULE_QUEUE).removeJobScheduler(scheduleId);
}

/**
 * After a committed change, from the API: the schedule's job scheduler put in line at once,
 * upserted while `s` fires, removed otherwise (or when the schedule is gone). Best effort: the
 * schedulers' reconciliation is the safety net, so a queue that does not answer only delays it.
 */
export async function syncScheduler(queues: QueueBackend, log: Logger, scheduleId: string, s?: SchedulerTarget & { firing: boolean }): Promise<void> {
  try {
    if (s?.firing) await upsertScheduler(queues, s);
    else await removeScheduler(queues, scheduleId);
  } catch (err) {
    log.warn({ scheduleId, err: (err as Error).message }, 'could not update the job scheduler now; the scheduler process will reconcile it');
  }
}

export interface ReconcileResult {
  upserted: number;
  removed: number;
  unchanged: number;
  /** Ticks missed while the scheduler was absent from the queue, to start now (catchUp "latest"). */
  catchUps: { scheduleId: string; fireTime: Date }[];
}

/**
 * Makes the queue's job schedulers match Postgres. An unchanged, intact scheduler is left alone:
 * re-upserting it would replace a tick that is due but not yet taken (lost after downtime).
 * A scheduler that is missing, or whose next job is gone, is re-created; if it was gone long
 * enough to miss a tick and the schedule catches up, that tick is returned to be fired.
 */
export async function reconcileSchedulers(
  db: Database,
  queues: QueueBackend,
  log: Logger,
  opts: { scheduleId?: string; now?: Date } = {},
): Promise<ReconcileResult> {
  const queue = queues.queue(SCHEDULE_QUEUE);
  const now = opts.now ?? new Date();
  const wanted = await listFiringSchedules(db, opts.scheduleId);
  const current = opts.scheduleId ? [await queue.getJobScheduler(opts.scheduleId)].filter((s) => s !== undefined) : await queue.getJobSchedulers(0, -1);
  const existing = new Map(current.map((s) => [s.key, s]));
  const result: ReconcileResult = { upserted: 0, removed: 0, unchanged: 0, catchUps: [] };
  for (const s of wanted) {
    const current = existing.get(s.id);
    existing.delete(s.id);
    const same = current && current.pattern === s.cron && current.tz === s.timezone && (current.template?.data as ScheduleJob | undefined)?.scheduleId === s.id;
    if (same) {
      if (await isIntact(queues, s.id, current.next)) {
        result.unchanged += 1;
        continue;
      }
      log.warn({ scheduleId: s.id, next: current.next }, 'job scheduler lost its next tick: re-creating it');
    }
    // Absent or broken (not merely changed): ticks may have been missed meanwhile.
    if ((!current || same) && s.catch_up === 'latest') {
      const missed = previousFireTime(s.cron, s.timezone, now);
      const last = await lastScheduledFor(db, s.id);
      const since = last && last > s.updated_at ? last : s.updated_at;
      if (missed && missed > since) result.catchUps.push({ scheduleId: s.id, fireTime: missed });
    }
    await upsertScheduler(queues, s);
    result.upserted += 1;
  }
  for (const key of existing.keys()) {
    await queue.removeJobScheduler(key);
    result.removed += 1;
  }
  return result;
}

/** The scheduler's next job is waiting to fire, or it advanced while we looked. */
async function isIntact(queues: QueueBackend, scheduleId: string, next: number | undefined): Promise<boolean> {
  const queue = queues.queue(SCHEDULE_QUEUE);
  const job = next ? await queue.getJob(`repeat:${scheduleId}:${next}`) : undefined;
  if (job && HEALTHY_STATES.has(await job.getState())) return true;
  const again = await queue.getJobScheduler(scheduleId);
  return again?.next !== undefined && again.next !== next;
}
