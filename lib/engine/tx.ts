import type { Database } from '../../db/database.js';
import { admitRuns } from './admission.js';
import type { EngineDeps } from './deps.js';
import { AfterCommit, applyQueueEffects } from './effects.js';

/** A transaction of the engine: the queries run on `tx`, the queue work waits in `fx` for the commit. */
export interface TxContext {
  tx: Database;
  fx: AfterCommit;
  deps: EngineDeps;
}

/**
 * The engine's one transaction boundary: runs `fn` in a transaction, then, only once it has
 * committed, applies the queue work it recorded and offers freed slots to queued runs.
 */
export async function inTransaction<T>(deps: EngineDeps, fn: (ctx: TxContext) => Promise<T>): Promise<T> {
  const fx = new AfterCommit();
  const result = await deps.db.transaction().execute((tx) => fn({ tx, fx, deps }));
  await applyQueueEffects(deps, fx);
  for (const workflowId of fx.admit) await admitRuns(deps, workflowId);
  for (const finished of fx.finishedRuns) safely(() => deps.hooks.runFinished?.(finished));
  return result;
}

/** An observer's failure must never fail the transition it observes. */
export function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // Observers are metrics and heartbeats: losing one sample is better than failing a run.
  }
}
