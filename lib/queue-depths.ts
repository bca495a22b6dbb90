import { withTimeout, type QueueBackend } from './queue.js';

/** The job states counted for `conveyor_queue_jobs` and GET /v1/system. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];
export type QueueDepth = { name: string } & Record<QueueState, number>;

/**
 * Job counts per queue, read from the backend now (a few counters per queue on either backend),
 * bounded by `timeoutMs` so a scrape or a status page never hangs on a down backend.
 */
export async function queueDepths(queues: QueueBackend, names: readonly string[], timeoutMs = 1500): Promise<QueueDepth[]> {
  return withTimeout(
    Promise.all(
      names.map(async (name) => {
        const counts = await queues.queue(name).getJobCounts(...QUEUE_STATES);
        return { name, ...Object.fromEntries(QUEUE_STATES.map((s) => [s, counts[s] ?? 0])) } as QueueDepth;
      }),
    ),
    timeoutMs,
    `queue backend (${queues.kind})`,
  );
}

/** Jobs ready to run and not yet taken: what a consuming worker would be taking. */
export const readyJobs = (d: QueueDepth) => d.waiting + d.prioritized;
