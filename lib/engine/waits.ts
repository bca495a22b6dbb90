import { getNodeRun, parkNode } from '../../db/node-runs.js';
import { appendEvents } from '../../db/run-events.js';
import { lockRun, runState } from '../../db/runs.js';
import type { JsonValue, WakeOutcome } from '../../db/types.js';
import type { Suspension } from '../providers/types.js';
import { recordOutcome, type Recorded } from './advance.js';
import { timeOutRun } from './cancel.js';
import { childOutcome } from './child-outcome.js';
import type { EngineDeps } from './deps.js';
import { inTransaction, type TxContext } from './tx.js';
import { loadVersion } from './versions.js';

/** A timer that fires this early (clock skew between hosts) is put back for the rest. */
const EARLY_TOLERANCE_MS = 20;

/**
 * Parks a running node in `waiting`: its job ends and frees the worker slot; a timer job (for
 * `wakeAt`) or a child run's end or a signal records its result later. A child that already
 * ended (a fast child, seen under the parent's row lock) is recorded at once instead.
 */
export async function suspendNode(ctx: TxContext, runId: string, nodeId: string, attempt: number, s: Suspension): Promise<Recorded & { waiting: boolean }> {
  const run = await lockRun(ctx.tx, runId);
  if (!run || run.status !== 'running') return { recorded: false, waiting: false };
  if (s.childRunId) {
    const child = await runState(ctx.tx, s.childRunId);
    if (child && child.status !== 'queued' && child.status !== 'running') {
      const outcome = childOutcome({ ...child, error: child.error }, ctx.deps.settings.maxNodeOutputBytes);
      return { ...(await recordOutcome(ctx, runId, nodeId, { status: 'running', attempt }, outcome)), waiting: false };
    }
  }
  const wakeOutcome = s.onWake as WakeOutcome | undefined;
  if (!(await parkNode(ctx.tx, runId, nodeId, attempt, { waitingFor: s.reason, wakeAt: s.wakeAt, wakeOutcome, childRunId: s.childRunId }))) {
    return { recorded: false, waiting: false };
  }
  await appendEvents(ctx.tx, runId, [
    { type: 'node.waiting', nodeId, attempt, data: { reason: s.reason, ...(s.wakeAt ? { wakeAt: s.wakeAt.toISOString() } : {}) } },
  ]);
  if (s.wakeAt) ctx.fx.timers.push({ job: { kind: 'wake', runId, nodeId }, at: s.wakeAt });
  return { recorded: true, waiting: true };
}

export type TimerResult = { done: true } | { done: false; remainingMs: number };

/** A wake timer fired: a waiting node records what it was parked with (a delay's output, a timeout's error). */
export async function wakeNode(deps: EngineDeps, runId: string, nodeId: string): Promise<TimerResult> {
  return inTransaction(deps, async (ctx) => {
    const run = await lockRun(ctx.tx, runId);
    if (!run || run.status !== 'running') return { done: true };
    const node = await getNodeRun(ctx.tx, runId, nodeId);
    if (node?.status !== 'waiting' || !node.wake_at || !node.wake_outcome) return { done: true };
    const remainingMs = node.wake_at.getTime() - Date.now();
    if (remainingMs > EARLY_TOLERANCE_MS) return { done: false, remainingMs };
    const wake = node.wake_outcome;
    const outcome = 'output' in wake ? { status: 'succeeded' as const, output: wake.output } : { status: 'failed' as const, error: wake.error };
    await recordOutcome(ctx, runId, nodeId, { status: 'waiting' }, outcome);
    return { done: true };
  });
}

export type SignalResult = 'signalled' | 'not_found' | 'not_waiting' | 'run_not_running';

/** POST .../signal: a waiting `wait.signal` node records the payload as its output, once. */
export async function signalNode(deps: EngineDeps, runId: string, nodeId: string, payload: JsonValue): Promise<SignalResult> {
  return inTransaction(deps, async (ctx) => {
    const run = await lockRun(ctx.tx, runId);
    if (!run) return 'not_found';
    const node = await getNodeRun(ctx.tx, runId, nodeId);
    if (!node) return 'not_found';
    if (run.status !== 'running') return 'run_not_running';
    if (node.type !== 'wait.signal' || node.status !== 'waiting') return 'not_waiting';
    const { recorded } = await recordOutcome(ctx, runId, nodeId, { status: 'waiting' }, { status: 'succeeded', output: payload });
    if (!recorded) return 'not_waiting';
    ctx.fx.removedTimers.push({ kind: 'wake', runId, nodeId });
    return 'signalled';
  });
}

/** A deadline timer fired: the run fails with `run_timeout` unless it already ended. */
export async function checkDeadline(deps: EngineDeps, runId: string): Promise<TimerResult> {
  const run = await deps.db.selectFrom('runs').select(['status', 'deadline_at', 'workflow_id', 'version']).where('id', '=', runId).executeTakeFirst();
  if (!run || run.status !== 'running' || !run.deadline_at) return { done: true };
  const remainingMs = run.deadline_at.getTime() - Date.now();
  if (remainingMs > EARLY_TOLERANCE_MS) return { done: false, remainingMs };
  const compiled = await loadVersion(deps.db, run.workflow_id, run.version);
  await timeOutRun(deps, runId, compiled.definition.timeoutMs);
  return { done: true };
}
