import { countRunning, heldExclusiveKeys, lockWorkflowSlots, queuedRuns } from '../../db/admission.js';
import { nodeStatuses, queuePendingNodes } from '../../db/node-runs.js';
import { appendEvents, type NewEvent } from '../../db/run-events.js';
import { markRunStarted } from '../../db/runs.js';
import type { EngineDeps } from './deps.js';
import { AfterCommit, applyQueueEffects } from './effects.js';
import { settle } from './settle.js';
import { conflictsRetried } from './tx.js';
import { loadVersion } from './versions.js';

/** Runs admitted in one pass at most: the rest wait for the next finished run or sweep. */
const BATCH = 200;

/**
 * Starts the queued runs of a workflow that fit: within its `concurrency` (runs in `running`
 * hold the slots, counted, never stored, so no crash or cancel can leak one) and one at a time
 * per exclusive key; in priority order, then FIFO. Serialised per workflow by its row lock.
 */
export async function admitRuns(deps: EngineDeps, workflowId: string): Promise<number> {
  const hasQueued = await deps.db
    .selectFrom('runs')
    .select('id')
    .where('workflow_id', '=', workflowId)
    .where('status', '=', 'queued')
    .limit(1)
    .executeTakeFirst();
  if (!hasQueued) return 0;
  let fx!: AfterCommit;
  const started = await conflictsRetried(deps, () => deps.db.transaction().execute(async (tx) => {
    fx = new AfterCommit(); // per attempt: a rolled-back attempt's jobs must not be added
    const wf = await lockWorkflowSlots(tx, workflowId);
    if (!wf) return 0;
    let running = await countRunning(tx, workflowId);
    const limit = wf.concurrency ?? Number.POSITIVE_INFINITY;
    if (running >= limit) return 0;
    const candidates = await queuedRuns(tx, workflowId, Math.min(BATCH, limit - running + 50));
    const held = await heldExclusiveKeys(tx, candidates.flatMap((c) => (c.exclusive_key ? [c.exclusive_key] : [])));
    let n = 0;
    for (const c of candidates) {
      if (running >= limit) break;
      if (c.exclusive_key && held.has(c.exclusive_key)) continue;
      const compiled = await loadVersion(tx, workflowId, c.version);
      const begun = await markRunStarted(tx, c.id, compiled.definition.timeoutMs);
      if (!begun) continue;
      const statuses = await nodeStatuses(tx, c.id);
      const reused = [...statuses].filter(([, s]) => s === 'succeeded').map(([id]) => id);
      const ready = [
        ...compiled.dag.roots.filter((id) => statuses.get(id) === 'pending'),
        ...settle(compiled.dag, statuses, reused).queue,
      ];
      const queued = await queuePendingNodes(tx, c.id, [...new Set(ready)]);
      const events: NewEvent[] = [{ type: 'run.started' }, ...queued.map((nodeId): NewEvent => ({ type: 'node.queued', nodeId }))];
      await appendEvents(tx, c.id, events);
      fx.enqueue(compiled, c.id, c.priority, queued);
      if (begun.deadline_at) fx.timers.push({ job: { kind: 'deadline', runId: c.id }, at: begun.deadline_at });
      running += 1;
      n += 1;
      if (c.exclusive_key) held.add(c.exclusive_key);
    }
    return n;
  }));
  await applyQueueEffects(deps, fx);
  if (started > 0) deps.log.debug({ workflowId, started }, 'queued runs admitted');
  return started;
}
