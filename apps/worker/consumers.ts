import { DelayedError, UnrecoverableError } from 'bullmq';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { RetryLater, executeNode } from '../../lib/engine/execute-node.js';
import { nodeQueueNames } from '../../lib/engine/queues.js';
import { checkDeadline, wakeNode } from '../../lib/engine/waits.js';
import { CONTROL_QUEUE, controlJobSchema, isNodeJob } from '../../lib/jobs.js';
import type { JobWorker } from '../../lib/queue.js';

export interface ConsumerOptions {
  concurrency: number;
  /** WORKER_QUEUES: consume only these node queues (default: every node queue). Timers are always consumed. */
  queues?: readonly string[];
}

/** Starts one BullMQ worker per consumed queue; handlers are one line into the engine. */
export function startConsumers(deps: EngineDeps, opts: ConsumerOptions): JobWorker[] {
  const known = nodeQueueNames(deps.registry);
  const wanted = opts.queues?.length ? opts.queues : known;
  const unknown = wanted.filter((q) => !known.includes(q));
  if (unknown.length) throw new Error(`WORKER_QUEUES names unknown queues: ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const nodeWorkers = wanted.map((name) => {
    const worker = deps.queues.worker(
      name,
      async (job, token, signal) => {
        if (!isNodeJob(job.data)) throw new UnrecoverableError('malformed node job payload');
        try {
          return await executeNode(deps, { runId: job.data.runId, nodeId: job.data.nodeId }, signal ?? new AbortController().signal);
        } catch (err) {
          if (!(err instanceof RetryLater) || !token) throw err;
          deps.log.warn({ runId: job.data.runId, nodeId: job.data.nodeId, err: err.message }, 'node job delayed: the database failed it');
          await job.moveToDelayed(Date.now() + err.delayMs, token);
          throw new DelayedError();
        }
      },
      {
        concurrency: opts.concurrency,
        lockDuration: deps.settings.nodeLockMs,
        stalledInterval: deps.settings.nodeLockMs,
        maxStalledCount: 3,
      },
    );
    // Another worker may now own the job: abort our provider call rather than race it.
    worker.on('lockRenewalFailed', (ids: string[]) => ids.forEach((id) => worker.cancelJob(id, 'lock lost')));
    worker.on('error', (err) => deps.log.warn({ queue: name, err: err.message }, 'worker error'));
    return worker;
  });
  // Timers are a few quick transactions each: a small fixed concurrency is plenty.
  const timers = deps.queues.worker(
    CONTROL_QUEUE,
    async (job, token) => {
      const data = controlJobSchema.safeParse(job.data);
      if (!data.success) throw new UnrecoverableError('malformed control job payload');
      const result = data.data.kind === 'wake' ? await wakeNode(deps, data.data.runId, data.data.nodeId) : await checkDeadline(deps, data.data.runId);
      if (!result.done) {
        // Fired early (clocks of Redis and Postgres hosts differ): sleep the rest in the queue.
        await job.moveToDelayed(Date.now() + result.remainingMs, token);
        throw new DelayedError();
      }
      return 'done';
    },
    { concurrency: Math.min(20, Math.max(2, opts.concurrency)) },
  );
  timers.on('error', (err) => deps.log.warn({ queue: CONTROL_QUEUE, err: err.message }, 'worker error'));
  return [...nodeWorkers, timers];
}
