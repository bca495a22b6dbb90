import { UnrecoverableError } from 'bullmq';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { executeNode } from '../../lib/engine/execute-node.js';
import { nodeQueueNames } from '../../lib/engine/queues.js';
import { nodeJobSchema } from '../../lib/jobs.js';
import type { JobWorker } from '../../lib/queue.js';

export interface ConsumerOptions {
  concurrency: number;
  /** WORKER_QUEUES: consume only these (default: every node queue). */
  queues?: readonly string[];
}

/** Starts one BullMQ worker per consumed queue; handlers are one line into the engine. */
export function startConsumers(deps: EngineDeps, opts: ConsumerOptions): JobWorker[] {
  const known = nodeQueueNames(deps.registry);
  const wanted = opts.queues?.length ? opts.queues : known;
  const unknown = wanted.filter((q) => !known.includes(q));
  if (unknown.length) throw new Error(`WORKER_QUEUES names unknown queues: ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return wanted.map((name) => {
    const worker = deps.queues.worker(
      name,
      async (job, _token, signal) => {
        const data = nodeJobSchema.safeParse(job.data);
        if (!data.success) throw new UnrecoverableError('malformed node job payload');
        return executeNode(deps, data.data, signal ?? new AbortController().signal);
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
}
