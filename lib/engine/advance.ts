import { appendEvents, type NewEvent } from '../../db/run-events.js';
import { finishRunningNode, nodeStatuses, queuePendingNodes, skipPendingNodes, succeededOutputs, type NodeOutcome } from '../../db/node-runs.js';
import { lockRun, markRunFinished } from '../../db/runs.js';
import type { Database } from '../../db/database.js';
import type { ErrorJson, JsonValue } from '../../db/types.js';
import { runOutcome, settle } from './settle.js';
import type { CompiledVersion } from './versions.js';

export interface Advance {
  /** Recorded: false means the result was not ours to record (duplicate, stale or cancelled). */
  recorded: boolean;
  /** Nodes now queued in Postgres: enqueue their jobs after commit. */
  toEnqueue: string[];
  runFinished?: 'succeeded' | 'failed';
  priority: number;
}

/**
 * Records a node's terminal outcome and advances its run, in the caller's transaction:
 * the run's row lock first, then the node's conditional update, then the successors the DAG
 * rules make ready or skip, then the run's own end when no node is left.
 */
export async function recordOutcome(
  tx: Database,
  compiled: CompiledVersion,
  runId: string,
  nodeId: string,
  attempt: number,
  outcome: NodeOutcome,
): Promise<Advance> {
  const run = await lockRun(tx, runId);
  if (!run || run.status !== 'running') return { recorded: false, toEnqueue: [], priority: 5 };
  if (!(await finishRunningNode(tx, runId, nodeId, attempt, outcome))) return { recorded: false, toEnqueue: [], priority: run.priority };
  const events: NewEvent[] = [nodeEvent(nodeId, attempt, outcome)];
  const statuses = await nodeStatuses(tx, runId);
  const plan = settle(compiled.dag, statuses, [nodeId]);
  const queued = await queuePendingNodes(tx, runId, plan.queue);
  await skipPendingNodes(tx, runId, plan.skip.map((s) => ({ nodeId: s.nodeId, error: { code: s.code, message: s.message } })));
  for (const id of queued) {
    statuses.set(id, 'queued');
    events.push({ type: 'node.queued', nodeId: id });
  }
  for (const s of plan.skip) {
    statuses.set(s.nodeId, 'skipped');
    events.push({ type: 'node.skipped', nodeId: s.nodeId, data: { code: s.code, message: s.message } });
  }
  const ending = runOutcome(statuses);
  if (ending) {
    const output = await sinkOutputs(tx, compiled, runId);
    const error = ending === 'failed' ? firstFailure(compiled, statuses, nodeId, outcome) : null;
    if (await markRunFinished(tx, runId, ending, output, error)) {
      events.push({ type: ending === 'succeeded' ? 'run.succeeded' : 'run.failed', data: error ? { error } : {} });
    }
  }
  await appendEvents(tx, runId, events);
  return { recorded: true, toEnqueue: queued, runFinished: ending, priority: run.priority };
}

function nodeEvent(nodeId: string, attempt: number, outcome: NodeOutcome): NewEvent {
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
async function sinkOutputs(tx: Database, compiled: CompiledVersion, runId: string): Promise<{ [id: string]: JsonValue }> {
  const rows = await succeededOutputs(tx, runId, compiled.dag.sinks);
  return Object.fromEntries(rows.map((r) => [r.node_id, r.output]));
}

function firstFailure(compiled: CompiledVersion, statuses: Map<string, string>, lastId: string, last: NodeOutcome): ErrorJson {
  const failedId = statuses.get(lastId) === 'failed' || last.status === 'failed' ? lastId : compiled.dag.nodeIds.find((id) => statuses.get(id) === 'failed');
  const detail = failedId === lastId ? last.error : undefined;
  return {
    code: 'node_failed',
    message: `node '${failedId}' failed${detail ? `: ${detail.message}` : ''}`,
    nodeId: failedId ?? null,
  };
}
