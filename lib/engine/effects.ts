import { CONTROL_QUEUE, controlJobId, nodeJobId, type ControlJob } from '../jobs.js';
import type { EngineDeps } from './deps.js';
import { enqueueControl, enqueueMany } from './enqueue.js';
import { nodeQueueFor } from './queues.js';
import type { CompiledVersion } from './versions.js';

export interface ParentToComplete { runId: string; nodeId: string; childRunId: string }

/**
 * What a transaction decided the queue should do once it commits: jobs to add or remove, timers
 * to set, workflows whose queued runs may now start. Collected while the transaction runs and
 * applied after commit, so a rollback leaves no job behind. A crash before `apply` loses only
 * queue work, which the sweeper re-creates from Postgres.
 */
export class AfterCommit {
  readonly enqueues: { compiled: CompiledVersion; runId: string; priority: number; nodeIds: string[] }[] = [];
  readonly timers: { job: ControlJob; at: Date }[] = [];
  readonly removals: { type: string; runId: string; nodeId: string }[] = [];
  readonly removedTimers: ControlJob[] = [];
  readonly admit = new Set<string>();
  readonly finishedRuns: { runId: string; status: string }[] = [];
  /** Parents of child runs that ended: their `workflow.run` nodes are completed after commit. */
  readonly parents: ParentToComplete[] = [];

  enqueue(compiled: CompiledVersion, runId: string, priority: number, nodeIds: readonly string[]): void {
    if (nodeIds.length > 0) this.enqueues.push({ compiled, runId, priority, nodeIds: [...nodeIds] });
  }
}

/** Queue work only; admission (`fx.admit`) is applied by the caller, which owns the transactions it needs. */
export async function applyQueueEffects(deps: EngineDeps, fx: AfterCommit): Promise<void> {
  await Promise.all([
    enqueueMany(deps, fx.enqueues),
    ...fx.timers.map((t) => enqueueControl(deps, t.job, t.at)),
    // Best effort: a job left behind finds nothing to claim in Postgres and just completes.
    ...fx.removals.map((r) => deps.queues.queue(nodeQueueFor(deps.registry, r.type)).remove(nodeJobId(r.runId, r.nodeId)).catch(() => 0)),
    ...fx.removedTimers.map((job) => deps.queues.queue(CONTROL_QUEUE).remove(controlJobId(job)).catch(() => 0)),
  ]);
}
