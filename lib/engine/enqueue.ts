import { CONTROL_QUEUE, KEEP_COMPLETED, KEEP_FAILED, controlJobId, jobPriority, nodeJobId, type ControlJob, type NodeJob } from '../jobs.js';
import type { EngineDeps } from './deps.js';
import { nodeQueueFor } from './queues.js';
import type { CompiledVersion } from './versions.js';

export interface NodeEnqueue { compiled: CompiledVersion; runId: string; priority: number; nodeIds: readonly string[] }

/**
 * Adds one job per node, after the transaction that queued them committed: every node of every
 * run given in one addBulk per queue (a batch's successors travel together). A crash before
 * this leaves nodes queued in Postgres with no job: the sweeper re-enqueues them.
 */
export async function enqueueNodes(deps: EngineDeps, compiled: CompiledVersion, runId: string, priority: number, nodeIds: readonly string[]): Promise<void> {
  await enqueueMany(deps, [{ compiled, runId, priority, nodeIds }]);
}

export async function enqueueMany(deps: EngineDeps, batch: readonly NodeEnqueue[]): Promise<void> {
  const byQueue = new Map<string, { name: string; data: NodeJob; opts: object }[]>();
  for (const { compiled, runId, priority, nodeIds } of batch) {
    for (const nodeId of nodeIds) {
      const node = compiled.nodes.get(nodeId);
      if (!node) continue;
      const queue = nodeQueueFor(deps.registry, node.type);
      const retry = node.retry;
      const jobs = byQueue.get(queue) ?? [];
      jobs.push({
        name: node.type,
        data: { runId, nodeId },
        opts: {
          jobId: nodeJobId(runId, nodeId),
          priority: jobPriority(priority),
          attempts: retry?.attempts ?? 1,
          backoff: retry ? { type: retry.backoff, delay: retry.delayMs } : undefined,
          removeOnComplete: KEEP_COMPLETED,
          removeOnFail: KEEP_FAILED,
        },
      });
      byQueue.set(queue, jobs);
    }
  }
  await Promise.all([...byQueue].map(([queue, jobs]) => deps.queues.queue(queue).addBulk(jobs)));
}

/** A timer: a delayed control job that fires at `at` (a wake-up, a run deadline). */
export async function enqueueControl(deps: EngineDeps, job: ControlJob, at: Date = new Date()): Promise<void> {
  const delay = Math.max(0, at.getTime() - Date.now());
  await deps.queues.queue(CONTROL_QUEUE).add(job.kind, job, {
    jobId: controlJobId(job),
    delay,
    // A timer retried on a transient error (the database restarting) rather than lost.
    attempts: 5,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: true,
    removeOnFail: KEEP_FAILED,
  });
}
