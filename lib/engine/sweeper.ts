import { runsPastDeadline, workflowsWithQueuedRuns } from '../../db/admission.js';
import { nodesDueForSweep, parentsOfEndedChildren, tryAdvisoryXactLock, wakingNodes } from '../../db/sweep.js';
import { CONTROL_QUEUE, controlJobId, nodeJobId, type ControlJob } from '../jobs.js';
import { admitRuns } from './admission.js';
import { completeParentNode } from './advance.js';
import type { EngineDeps } from './deps.js';
import { enqueueControl, enqueueNodes } from './enqueue.js';
import { nodeQueueFor } from './queues.js';
import { loadVersion } from './versions.js';
import { conflictsRetried, inStatement } from './tx.js';
import { checkDeadline } from './waits.js';

/** Spells "SWEP": the advisory lock key only one scheduler's sweep holds at a time. */
export const SWEEP_LOCK_KEY = 0x53574550;
/** A queued node younger than this is probably being enqueued right now. */
export const SWEEP_GRACE_MS = 15_000;
/** A deadline this far past was missed by its timer (every worker down, the queue lost). */
const DEADLINE_GRACE_MS = 5_000;

export interface SweepResult {
  swept: boolean;
  checked: number;
  reenqueued: number;
  timers: number;
  deadlines: number;
  /** Parent nodes completed for child runs that had ended (a crash between the two). */
  parents: number;
  admitted: number;
}

const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Re-creates from Postgres what the queue should hold but lacks — a crash between commit and
 * enqueue, a Redis restarted empty, a job lost with its worker: node jobs, wake timers (with the
 * time that remains), overdue deadlines, and admission of queued runs. Re-adding is safe: the
 * conditional updates in Postgres, not the jobs, decide what happens.
 *
 * What is due is read in one short transaction under the sweep's advisory lock, which commits
 * before the first queue call: no transaction (and no snapshot holding back vacuum) stays open
 * across hundreds of Redis round trips. Nothing is written there, so a re-enqueue that fails
 * leaves its row due and the next sweep finds it again; a second scheduler sweeping the same
 * rows meanwhile only re-adds jobs under the same ids.
 */
export async function sweep(deps: EngineDeps, opts: { graceMs?: number; deadlineGraceMs?: number; limit?: number } = {}): Promise<SweepResult> {
  const result: SweepResult = { swept: false, checked: 0, reenqueued: 0, timers: 0, deadlines: 0, parents: 0, admitted: 0 };
  const due = await readDue(deps, opts);
  if (!due) return result;
  result.swept = true;
  result.checked = due.nodes.length;
  for (const row of due.nodes) {
    const compiled = await loadVersion(deps.db, row.workflow_id, row.version);
    const node = compiled.nodes.get(row.node_id);
    if (!node) continue;
    const queue = deps.queues.queue(nodeQueueFor(deps.registry, node.type));
    if (!(await missing(queue, nodeJobId(row.run_id, row.node_id)))) continue;
    await enqueueNodes(deps, compiled, row.run_id, row.priority, [row.node_id]);
    result.reenqueued += 1;
    deps.log.warn({ runId: row.run_id, nodeId: row.node_id, status: row.status }, 'sweeper re-enqueued a node the queue had lost');
  }
  for (const row of due.waking) {
    const job: ControlJob = { kind: 'wake', runId: row.run_id, nodeId: row.node_id };
    if (!(await missing(deps.queues.queue(CONTROL_QUEUE), controlJobId(job)))) continue;
    await enqueueControl(deps, job, row.wake_at!);
    result.timers += 1;
    deps.log.warn({ runId: row.run_id, nodeId: row.node_id, wakeAt: row.wake_at }, 'sweeper re-created a lost wake timer');
  }
  for (const run of due.pastDeadline) {
    await checkDeadline(deps, run.id);
    result.deadlines += 1;
  }
  for (const row of due.parents) {
    const parent = { runId: row.run_id, nodeId: row.node_id, childRunId: row.child_run_id! };
    if ((await inStatement(deps, (ctx) => completeParentNode(ctx, parent))).recorded) {
      result.parents += 1;
      deps.log.warn({ runId: parent.runId, nodeId: parent.nodeId, childRunId: parent.childRunId }, 'sweeper completed a parent node whose child run had ended');
    }
  }
  for (const workflowId of due.queuedWorkflows) result.admitted += await admitRuns(deps, workflowId);
  return result;
}

/** Everything due, read under the sweep lock in one transaction that has committed on return; undefined when another scheduler holds the lock. */
function readDue(deps: EngineDeps, opts: { graceMs?: number; deadlineGraceMs?: number; limit?: number }) {
  const limit = opts.limit ?? 500;
  return conflictsRetried(deps, () =>
    deps.db.transaction().execute(async (tx) => {
      if (!(await tryAdvisoryXactLock(tx, SWEEP_LOCK_KEY))) return undefined;
      return {
        nodes: await nodesDueForSweep(tx, opts.graceMs ?? SWEEP_GRACE_MS, deps.settings.nodeLockMs, limit),
        waking: await wakingNodes(tx, limit),
        pastDeadline: await runsPastDeadline(tx, opts.deadlineGraceMs ?? DEADLINE_GRACE_MS, limit),
        parents: await parentsOfEndedChildren(tx, limit),
        queuedWorkflows: await workflowsWithQueuedRuns(tx, limit),
      };
    }),
  );
}

/** No live job under this id; a finished one that would swallow the re-add is cleared. */
async function missing(queue: ReturnType<EngineDeps['queues']['queue']>, jobId: string): Promise<boolean> {
  const job = await queue.getJob(jobId);
  if (!job) return true;
  const state = await job.getState();
  if (LIVE_STATES.has(state)) return false;
  await job.remove().catch(() => {});
  return true;
}
