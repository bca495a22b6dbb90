import { sql } from 'kysely';
import { cancelOpenNodes } from '../../db/node-runs.js';
import { appendEvents } from '../../db/run-events.js';
import { activeChildRuns, lockRun, markRunCancelled } from '../../db/runs.js';
import type { ErrorJson, RunStatus } from '../../db/types.js';
import { CONTROL_QUEUE, controlJobId, nodeJobId } from '../jobs.js';
import { CANCEL_CHANNEL } from './cancel-listener.js';
import type { EngineDeps } from './deps.js';
import { nodeQueueFor } from './queues.js';

export type CancelResult = { cancelled: true } | { cancelled: false; status: RunStatus | undefined };

/**
 * Cancels a run: Postgres first (the run and every open node become `cancelled` in one
 * transaction, so any late result finds nothing to record), then a NOTIFY that aborts running
 * providers on every worker, then the queued and delayed jobs, then its child runs.
 */
export async function cancelRun(deps: EngineDeps, runId: string, error: ErrorJson = { code: 'cancelled', message: 'run cancelled' }): Promise<CancelResult> {
  const done = await deps.db.transaction().execute(async (tx) => {
    const run = await lockRun(tx, runId);
    if (!run || !(await markRunCancelled(tx, runId, error))) return { ok: false as const, status: run?.status };
    const open = await cancelOpenNodes(tx, runId, { code: 'cancelled', message: error.message });
    await appendEvents(tx, runId, [
      ...open.map((n) => ({ type: 'node.cancelled' as const, nodeId: n.node_id })),
      { type: 'run.cancelled' as const, data: { error } },
    ]);
    await sql`SELECT pg_notify(${CANCEL_CHANNEL}, ${runId})`.execute(tx);
    return { ok: true as const, open };
  });
  if (!done.ok) return { cancelled: false, status: done.status };

  // Best effort: a job left behind claims nothing (its node is cancelled) and just completes.
  await Promise.allSettled(
    done.open.flatMap((n) => [
      deps.queues.queue(nodeQueueFor(deps.registry, n.type)).remove(nodeJobId(runId, n.node_id)),
      deps.queues.queue(CONTROL_QUEUE).remove(controlJobId({ kind: 'wake', runId, nodeId: n.node_id })),
    ]),
  );
  await deps.queues.queue(CONTROL_QUEUE).remove(controlJobId({ kind: 'deadline', runId })).catch(() => {});
  for (const child of await activeChildRuns(deps.db, runId)) {
    await cancelRun(deps, child.id, { code: 'parent_cancelled', message: `parent run ${runId} was cancelled` });
  }
  deps.log.info({ runId, nodes: done.open.length }, 'run cancelled');
  return { cancelled: true };
}
