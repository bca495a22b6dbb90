import { sql } from 'kysely';
import { cancelOpenNodes, getNodeRun, succeededOutputs, type NodeHolder, type NodeOutcome } from '../../db/node-runs.js';
import { appendEvents, type NewEvent } from '../../db/run-events.js';
import { lockRun } from '../../db/runs.js';
import { applySettlement, finishRunRow, lockAndFinishNode, type LockedRun } from '../../db/settle.js';
import type { ErrorJson, JsonValue, RunStatus } from '../../db/types.js';
import { CANCEL_CHANNEL } from './cancel-listener.js';
import { childOutcome } from './child-outcome.js';
import { runOutcome, settle } from './settle.js';
import type { TxContext } from './tx.js';
import { loadVersion, type CompiledVersion } from './versions.js';

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
 * Records a node's terminal outcome and advances its run, in the caller's transaction:
 * the run's row lock first, then the node's conditional update (only from the state the caller
 * holds), then the successors the DAG rules make ready or skip, then the run's own end when no
 * node is left. Jobs for what became ready go into `ctx.fx`, added after commit.
 */
export async function recordOutcome(
  ctx: TxContext,
  compiled: CompiledVersion,
  runId: string,
  nodeId: string,
  holder: NodeHolder,
  outcome: NodeOutcome,
): Promise<Recorded> {
  const { run, finished, statuses } = await lockAndFinishNode(ctx.tx, runId, nodeId, holder, outcome);
  if (!run || !finished) return { recorded: false };
  const plan = settle(compiled.dag, statuses, [nodeId]);
  const events: NewEvent[] = [nodeEvent(nodeId, holder, outcome)];
  for (const id of plan.queue) {
    statuses.set(id, 'queued');
    events.push({ type: 'node.queued', nodeId: id });
  }
  for (const s of plan.skip) {
    statuses.set(s.nodeId, 'skipped');
    events.push({ type: 'node.skipped', nodeId: s.nodeId, data: { code: s.code, message: s.message } });
  }
  const skip = plan.skip.map((s) => ({ nodeId: s.nodeId, error: { code: s.code, message: s.message } }));
  await applySettlement(ctx.tx, runId, { queue: plan.queue, skip, events });
  ctx.fx.enqueue(compiled, runId, run.priority, plan.queue);
  const ending = runOutcome(statuses);
  if (ending) {
    const output = await sinkOutputs(ctx, compiled, runId);
    const error = ending === 'failed' ? firstFailure(compiled, statuses, nodeId, outcome) : null;
    await finishRun(ctx, run, ending, output, error);
  }
  return { recorded: true, runFinished: ending };
}

function nodeEvent(nodeId: string, holder: NodeHolder, outcome: NodeOutcome): NewEvent {
  const attempt = holder.status === 'running' ? holder.attempt : undefined;
  switch (outcome.status) {
    case 'succeeded':
      return { type: 'node.succeeded', nodeId, attempt };
    case 'failed':
      return { type: 'node.failed', nodeId, attempt, data: { error: outcome.error ?? null } };
    case 'skipped':
      return { type: 'node.skipped', nodeId, attempt, data: outcome.error ? { ...outcome.error } : {} };
  }
}

/** The run's output: its succeeded sink nodes' outputs, keyed by node id. */
async function sinkOutputs(ctx: TxContext, compiled: CompiledVersion, runId: string): Promise<{ [id: string]: JsonValue }> {
  const rows = await succeededOutputs(ctx.tx, runId, compiled.dag.sinks);
  return Object.fromEntries(rows.map((r) => [r.node_id, r.output]));
}

function firstFailure(compiled: CompiledVersion, statuses: Map<string, string>, lastId: string, last: NodeOutcome): ErrorJson {
  const failedId = last.status === 'failed' ? lastId : compiled.dag.nodeIds.find((id) => statuses.get(id) === 'failed');
  const detail = failedId === lastId ? last.error : undefined;
  return {
    code: 'node_failed',
    message: `node '${failedId}' failed${detail ? `: ${detail.message}` : ''}`,
    nodeId: failedId ?? null,
  };
}

type Ending = Exclude<RunStatus, 'queued' | 'running'>;

/**
 * A run reaches its end, once (the conditional update decides): its event, its deadline timer
 * removed, its workflow's queued runs offered the freed slot, and — for a child run — the
 * parent's waiting `workflow.run` node completed with this run's outcome, in the same transaction.
 */
export async function finishRun(ctx: TxContext, run: LockedRun, status: Ending, output: JsonValue | null, error: ErrorJson | null): Promise<boolean> {
  const done = await finishRunRow(ctx.tx, run.id, status, output, error);
  if (!done) return false;
  if (run.deadline_at) ctx.fx.removedTimers.push({ kind: 'deadline', runId: run.id });
  if (done.has_queued) ctx.fx.admit.add(run.workflow_id);
  ctx.fx.finishedRuns.push({ runId: run.id, status });
  if (run.parent_run_id && run.parent_node_id) {
    await completeParentNode(ctx, run.parent_run_id, run.parent_node_id, { id: run.id, status, output, error });
  }
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

async function completeParentNode(
  ctx: TxContext,
  parentRunId: string,
  parentNodeId: string,
  child: { id: string; status: Ending; output: JsonValue | null; error: ErrorJson | null },
): Promise<void> {
  const parent = await lockRun(ctx.tx, parentRunId);
  if (!parent || parent.status !== 'running') return;
  const node = await getNodeRun(ctx.tx, parentRunId, parentNodeId);
  // Not parked yet: the parker sees this child ended (under the same lock) and records it itself.
  if (node?.status !== 'waiting' || node.child_run_id !== child.id) return;
  const compiled = await loadVersion(ctx.deps.db, parent.workflow_id, parent.version);
  await recordOutcome(ctx, compiled, parentRunId, parentNodeId, { status: 'waiting' }, childOutcome(child, ctx.deps.settings.maxNodeOutputBytes));
}
