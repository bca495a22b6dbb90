import type { NodeStatus } from '../../db/types.js';
import type { Dag } from '../workflows/dag.js';

/**
 * The DAG scheduler's rules, as a pure function. Given the run's node statuses after some
 * nodes reached a terminal state, decide which pending successors become ready and which
 * are skipped (which may in turn settle their own successors):
 *  - a node is decided once every predecessor is terminal;
 *  - any failed (or cancelled) predecessor: skipped with `upstream_failed`;
 *  - every predecessor skipped: skipped with `upstream_skipped`;
 *  - otherwise: queued (its `when` guard is evaluated by its own job).
 */
export interface Skip {
  nodeId: string;
  code: 'upstream_failed' | 'upstream_skipped';
  message: string;
}

export interface Settlement {
  queue: string[];
  skip: Skip[];
}

const TERMINAL = new Set<NodeStatus>(['succeeded', 'failed', 'skipped', 'cancelled']);

export function isTerminal(status: NodeStatus): boolean {
  return TERMINAL.has(status);
}

export function settle(dag: Dag, statuses: ReadonlyMap<string, NodeStatus>, changed: readonly string[]): Settlement {
  const current = new Map(statuses);
  const result: Settlement = { queue: [], skip: [] };
  const todo = changed.flatMap((id) => dag.succs.get(id) ?? []);
  while (todo.length > 0) {
    const id = todo.shift()!;
    if (current.get(id) !== 'pending') continue;
    const preds = dag.preds.get(id) ?? [];
    const predStatuses = preds.map((p) => current.get(p) ?? 'pending');
    if (!predStatuses.every(isTerminal)) continue;
    const failed = preds.find((_, i) => predStatuses[i] === 'failed' || predStatuses[i] === 'cancelled');
    if (failed !== undefined) {
      result.skip.push({ nodeId: id, code: 'upstream_failed', message: `upstream node '${failed}' failed` });
    } else if (predStatuses.every((s) => s === 'skipped')) {
      result.skip.push({ nodeId: id, code: 'upstream_skipped', message: 'every upstream node was skipped' });
    } else {
      result.queue.push(id);
      current.set(id, 'queued');
      continue;
    }
    current.set(id, 'skipped');
    todo.push(...(dag.succs.get(id) ?? []));
  }
  return result;
}

/** A run is over when every node is terminal; it failed if any node failed. */
export function runOutcome(statuses: ReadonlyMap<string, NodeStatus>): 'succeeded' | 'failed' | undefined {
  let failed = false;
  for (const status of statuses.values()) {
    if (!isTerminal(status)) return undefined;
    if (status === 'failed') failed = true;
  }
  return failed ? 'failed' : 'succeeded';
}
