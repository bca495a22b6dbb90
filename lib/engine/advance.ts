import { sql } from 'kysely';
import { cancelOpenNodes, type NodeHolder, type NodeOutcome } from '../../db/node-runs.js';
import { appendEvents, type NewEvent } from '../../db/run-events.js';
import { lockRun, runState } from '../../db/runs.js';
import { finishRunRow, recordNodeOutcome, type LockedRun, type NodeResult, type RecordResult } from '../../db/settle.js';
import type { ErrorJson, JsonValue, RunStatus } from '../../db/types.js';
import { CANCEL_CHANNEL } from './cancel-listener.js';
import { childOutcome } from './child-outcome.js';
import type { ParentToComplete } from './effects.js';
import type { TxContext } from './tx.js';
import { loadVersion } from './versions.js';

/**
 * The run state machine's transitions that span nodes and runs: a node's result advancing its
 * run, a run's end (natural, cancelled or timed out), and a child run's end completing its
 * parent's node. Every step is a conditional update under the run's row lock, inside the
 * caller's transaction; queue work goes into `ctx.fx` for after the commit.
 */

export interface Recorded {
  /** False: the result was not ours to record (duplicate, stale, or the run already ended). */
  recorded: boolean;
  runFinished?: 'succeeded' | 'failed';
}

/**
 * Records a node's terminal outcome and advances its run — in one statement
 * (conveyor_record_outcome): the run's row lock, the node's conditional update (only from the
 * state the caller holds), the successors the DAG rules make ready or skip, and the run's end
 * when no node is left. Jobs for what became ready, timers to drop, admission and a parent's
 * node to complete go into `ctx.fx`, applied after commit.
 */
export async function recordOutcome(
  ctx: TxContext,
  runId: string,
  nodeId: string,
  holder: NodeHolder,
  outcome: NodeOutcome,
): Promise<Recorded> {
  const result = await recordNodeOutcome(ctx.tx, { ...nodeResult(runId, nodeId, holder, outcome), maxOutputBytes: ctx.deps.settings.maxNodeOutputBytes });
  return advanced(ctx, result);
}

/** A node's result as the statement that records it takes it. */
export function nodeResult(runId: string, nodeId: string, holder: NodeHolder, outcome: NodeOutcome): NodeResult {
  return { runId, nodeId, holder, outcome, event: nodeEvent(nodeId, holder, outcome) };
}

/**
 * What a recorded result leaves for after the commit: jobs for what became ready, timers to
 * drop, admission, and — for a child run that ended — its parent's node to complete.
 */
export async function advanced(ctx: TxContext, result: RecordResult): Promise<Recorded> {
  if (!result.recorded) return { recorded: false };
  for (const run of result.runs) {
    if (run.queued.length > 0) ctx.fx.enqueue(await loadVersion(ctx.deps.db, run.workflow_id, run.version), run.run_id, run.priority, run.queued);
    if (!run.ended) continue;
    if (run.had_deadline) ctx.fx.removedTimers.push({ kind: 'deadline', runId: run.run_id });
    if (run.has_queued) ctx.fx.admit.add(run.workflow_id);
    ctx.fx.finishedRuns.push({ runId: run.run_id, status: run.ended });
    if (run.parent_run_id && run.parent_node_id) ctx.fx.parents.push({ runId: run.parent_run_id, nodeId: run.parent_node_id, childRunId: run.run_id });
  }
  return { recorded: true, runFinished: result.runs[0]?.ended ?? undefined };
}

function nodeEvent(nodeId: string, holder: NodeHolder, outcome: NodeOutcome): NewEvent {
  const attempt = holder.status === 'running' ? holder.attempt : undefined;
  switch (outcome.status) {
    case 'succeeded':
      return { type: 'node.succeeded', nodeId, attempt, ...(outcome.params === undefined ? {} : { data: { params: outcome.params } }) };
    case 'failed':
      return { type: 'node.failed', nodeId, attempt, data: { error: outcome.error ?? null, ...(outcome.params === undefined ? {} : { params: outcome.params }) } };
    case 'skipped':
      return { type: 'node.skipped', nodeId, attempt, data: outcome.error ? { ...outcome.error } : {} };
  }
}

type Ending = Exclude<RunStatus, 'queued' | 'running'>;

/**
 * A run reaches its end, once (the conditional update decides): its event, its deadline timer
 * removed, its workflow's queued runs offered the freed slot, and — for a child run — the
 * parent's waiting `workflow.run` node completed with this run's outcome after the commit.
 */
export async function finishRun(ctx: TxContext, run: LockedRun, status: Ending, output: JsonValue | null, error: ErrorJson | null): Promise<boolean> {
  const done = await finishRunRow(ctx.tx, run.id, status, output, error);
  if (!done) return false;
  if (run.deadline_at) ctx.fx.removedTimers.push({ kind: 'deadline', runId: run.id });
  if (done.has_queued) ctx.fx.admit.add(run.workflow_id);
  ctx.fx.finishedRuns.push({ runId: run.id, status });
  if (run.parent_run_id && run.parent_node_id) ctx.fx.parents.push({ runId: run.parent_run_id, nodeId: run.parent_node_id, childRunId: run.id });
  return true;
}

/**
 * Ends a run that still has open nodes (cancel, deadline): every open node becomes
 * `cancelled`, running providers everywhere are aborted by a NOTIFY sent on commit, and their
 * jobs and timers are removed after it. Returns false when the run had already ended.
 */
export async function endRun(ctx: TxContext, runId: string, status: 'cancelled' | 'failed', error: ErrorJson): Promise<{ ended: boolean; status?: RunStatus }> {
  const run = await lockRun(ctx.tx, runId);
  if (!run || (run.status !== 'queued' && run.status !== 'running')) return { ended: false, status: run?.status };
  const open = await cancelOpenNodes(ctx.tx, runId, { code: status === 'cancelled' ? 'cancelled' : error.code, message: error.message });
  await appendEvents(ctx.tx, runId, open.map((n) => ({ type: 'node.cancelled' as const, nodeId: n.node_id })));
  await finishRun(ctx, run, status, null, error);
  await sql`select pg_notify(${CANCEL_CHANNEL}, ${runId})`.execute(ctx.tx);
  for (const n of open) {
    ctx.fx.removals.push({ type: n.type, runId, nodeId: n.node_id });
    ctx.fx.removedTimers.push({ kind: 'wake', runId, nodeId: n.node_id });
  }
  return { ended: true };
}

/**
 * A child run ended: its parent's waiting `workflow.run` node takes the child's outcome. Run after
 * the child's end committed, in a statement of its own, so no transaction ever holds a child's
 * lock while it takes its parent's (locks go in run-id order only). Recorded only if the
 * parent's node waits for this very child: not parked yet, the parker sees the child ended
 * (under the parent's lock) and records it itself; a crash before this, and the sweeper does it.
 */
export async function completeParentNode(ctx: TxContext, parent: ParentToComplete): Promise<Recorded> {
  const child = await runState(ctx.tx, parent.childRunId);
  if (!child || child.status === 'queued' || child.status === 'running') return { recorded: false };
  const outcome = childOutcome(child, ctx.deps.settings.maxNodeOutputBytes);
  return recordOutcome(ctx, parent.runId, parent.nodeId, { status: 'waiting', childRunId: parent.childRunId }, outcome);
}
