import { nodesDueForSweep, tryAdvisoryXactLock } from '../../db/sweep.js';
import { nodeJobId } from '../jobs.js';
import type { EngineDeps } from './deps.js';
import { enqueueNodes } from './enqueue.js';
import { nodeQueueFor } from './queues.js';
import { loadVersion } from './versions.js';

/** Spells "SWEP": the advisory lock key only one scheduler's sweep holds at a time. */
export const SWEEP_LOCK_KEY = 0x53574550;
/** A queued node younger than this is probably being enqueued right now. */
export const SWEEP_GRACE_MS = 15_000;

export interface SweepResult {
  swept: boolean;
  checked: number;
  reenqueued: number;
}

/**
 * Re-enqueues what Postgres says is due but the queue lacks: a crash between commit and
 * enqueue, a Redis restarted empty, a job lost with its worker. Re-adding is safe: the claim
 * in Postgres, not the job, decides who runs a node.
 */
export async function sweep(deps: EngineDeps, opts: { graceMs?: number; limit?: number } = {}): Promise<SweepResult> {
  return deps.db.transaction().execute(async (tx) => {
    if (!(await tryAdvisoryXactLock(tx, SWEEP_LOCK_KEY))) return { swept: false, checked: 0, reenqueued: 0 };
    const due = await nodesDueForSweep(tx, opts.graceMs ?? SWEEP_GRACE_MS, deps.settings.nodeLockMs, opts.limit ?? 500);
    let reenqueued = 0;
    for (const row of due) {
      const compiled = await loadVersion(deps.db, row.workflow_id, row.version);
      const node = compiled.nodes.get(row.node_id);
      if (!node) continue;
      const queue = deps.queues.queue(nodeQueueFor(deps.registry, node.type));
      const job = await queue.getJob(nodeJobId(row.run_id, row.node_id));
      const state = job ? await job.getState() : 'missing';
      if (state === 'waiting' || state === 'active' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') continue;
      // A finished job with this id would swallow the re-add: clear it first.
      if (job) await job.remove().catch(() => {});
      await enqueueNodes(deps, compiled, row.run_id, row.priority, [row.node_id]);
      reenqueued += 1;
      deps.log.warn({ runId: row.run_id, nodeId: row.node_id, status: row.status, jobState: state }, 'sweeper re-enqueued a node the queue had lost');
    }
    return { swept: true, checked: due.length, reenqueued };
  });
}
