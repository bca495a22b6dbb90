import type { Database } from '../../db/database.js';
import { retryOnConflict } from '../../db/errors.js';
import { admitRuns } from './admission.js';
import { completeParentNode } from './advance.js';
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
export function inTransaction<T>(deps: EngineDeps, fn: (ctx: TxContext) => Promise<T>): Promise<T> {
  return committed(deps, (fx) => deps.db.transaction().execute((tx) => fn({ tx, fx, deps })));
}

/**
 * Like inTransaction for a step that is one statement (atomic by itself): no BEGIN and COMMIT
 * round trips around it. The node results of the hot path take this one.
 */
export function inStatement<T>(deps: EngineDeps, fn: (ctx: TxContext) => Promise<T>): Promise<T> {
  return committed(deps, (fx) => fn({ tx: deps.db, fx, deps }));
}

/**
 * inStatement for a node's result, whose consequences need not hold up the job: once the
 * statement has committed it returns, and the queue work it recorded (the successors' jobs,
 * admission, a parent's node) goes on while BullMQ completes the job — the successor's `addBulk`
 * and the job's completion-and-fetch then travel together instead of one after the other, a
 * round trip less per chain step. Losing that work (a crash, Redis down) loses nothing: the
 * successors are queued in PostgreSQL and the sweeper adds the jobs it finds missing, as it
 * always did for a crash after the commit. A worker's shutdown waits for it (`afterCommitsSettled`).
 */
export async function inStatementThenQueue<T>(deps: EngineDeps, fn: (ctx: TxContext) => Promise<T>): Promise<T> {
  const { result, fx } = await untilCommitted(deps, (fx) => fn({ tx: deps.db, fx, deps }));
  const work = afterCommit(deps, fx).catch((err: Error) =>
    deps.log.warn({ err: err.message }, 'queue work after a commit failed; the sweeper adds the jobs it left missing'),
  );
  const set = pendingFor(deps);
  set.add(work);
  void work.finally(() => set.delete(work));
  return result;
}

const pending = new WeakMap<EngineDeps, Set<Promise<void>>>();
const pendingFor = (deps: EngineDeps) => {
  let set = pending.get(deps);
  if (!set) pending.set(deps, (set = new Set()));
  return set;
};

/** Resolves when the queue work of every commit so far is done (a worker's shutdown waits for it). */
export async function afterCommitsSettled(deps: EngineDeps): Promise<void> {
  const set = pending.get(deps);
  while (set && set.size > 0) await Promise.allSettled([...set]);
}

async function committed<T>(deps: EngineDeps, step: (fx: AfterCommit) => Promise<T>): Promise<T> {
  const { result, fx } = await untilCommitted(deps, step);
  await afterCommit(deps, fx);
  return result;
}

/** `step` retried until it commits, with the queue work its committed attempt recorded. */
async function untilCommitted<T>(deps: EngineDeps, step: (fx: AfterCommit) => Promise<T>): Promise<{ result: T; fx: AfterCommit }> {
  // A fresh record per attempt: a rolled-back attempt's queue work must not be applied.
  let fx!: AfterCommit;
  const result = await conflictsRetried(deps, () => step((fx = new AfterCommit())));
  return { result, fx };
}

/**
 * A transaction outside inTransaction (its own boundary: admission, the sweeper, a retry's
 * requeue) retried on a serialization failure or deadlock like every engine transaction.
 */
export function conflictsRetried<T>(deps: Pick<EngineDeps, 'log'>, transaction: () => Promise<T>): Promise<T> {
  return retryOnConflict(transaction, {
    onRetry: (attempt, code) => deps.log.warn({ attempt, code }, 'transaction conflict; retrying'),
  });
}

/** A committed step's consequences: queue work, admission, observers, and the parents of ended child runs. */
export async function afterCommit(deps: EngineDeps, fx: AfterCommit): Promise<void> {
  await applyQueueEffects(deps, fx);
  for (const workflowId of fx.admit) await admitRuns(deps, workflowId);
  for (const finished of fx.finishedRuns) safely(() => deps.hooks.runFinished?.(finished));
  for (const parent of fx.parents) {
    await inStatement(deps, (ctx) => completeParentNode(ctx, parent)).catch((err: Error) =>
      deps.log.warn({ runId: parent.runId, nodeId: parent.nodeId, childRunId: parent.childRunId, err: err.message }, 'completing a parent node failed; the sweeper will'),
    );
  }
}

/** An observer's failure must never fail the transition it observes. */
export function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // Observers are metrics and heartbeats: losing one sample is better than failing a run.
  }
}
