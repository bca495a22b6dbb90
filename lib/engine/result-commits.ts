import type { NodeHolder, NodeOutcome } from '../../db/node-runs.js';
import { recordNodeOutcomes, type NodeResult } from '../../db/settle.js';
import { GroupCommit } from '../group-commit.js';
import { advanced, nodeResult, recordOutcome, type Recorded } from './advance.js';
import type { EngineDeps } from './deps.js';
import { inStatement, inStatementThenQueue, safely } from './tx.js';

/**
 * Node results of one worker process, group-committed: the results that finish while a batch is
 * being recorded are recorded together in the next one — one statement, one commit, one WAL
 * flush — and the successors they make ready go to the queue together after it. Each result
 * keeps its own conditional update, so a duplicate delivery in a batch records nothing. Locks
 * are taken in run-id order (the batch is sorted, each run's results kept in arrival order), so
 * batches of different workers never deadlock. A batch that fails (a value PostgreSQL refuses)
 * is recorded result by result, so the bad one fails alone.
 */
export function commitResult(deps: EngineDeps, runId: string, nodeId: string, holder: NodeHolder, outcome: NodeOutcome): Promise<Recorded> {
  return commitsFor(deps).submit(nodeResult(runId, nodeId, holder, outcome));
}

/**
 * Result batches of one process in flight at once: one, so everything that arrives while a batch
 * travels goes in the next (DESIGN.md's group commit). Measured on this machine (npm run bench,
 * alternating runs): one in flight against three gave 30–40% more nodes/s on Redis (drain, chains,
 * fan) and 20% more on the PostgreSQL backend, with the 40-step chain's latency unchanged: every
 * statement is a round trip whose CPU (socket writes) the two cores pay, and bigger batches make
 * fewer of them. Were it raised, results of one run could commit in two batches in either order;
 * that stays safe (the DAG rules are order-free, property-tested in settle-sql.test.ts).
 */
export const RESULT_BATCHES_IN_FLIGHT = 1;

const perDeps = new WeakMap<EngineDeps, GroupCommit<NodeResult, Recorded>>();

function commitsFor(deps: EngineDeps): GroupCommit<NodeResult, Recorded> {
  let commits = perDeps.get(deps);
  if (!commits) {
    commits = new GroupCommit<NodeResult, Recorded>(
      (results) => recordBatch(deps, results),
      (r) => inStatement(deps, (ctx) => recordOutcome(ctx, r.runId, r.nodeId, r.holder, r.outcome)),
      { maxInFlight: RESULT_BATCHES_IN_FLIGHT, onBatch: (n) => safely(() => deps.hooks.resultsBatched?.(n)) },
    );
    perDeps.set(deps, commits);
  }
  return commits;
}

async function recordBatch(deps: EngineDeps, results: NodeResult[]): Promise<Recorded[]> {
  // Stable: a run's results keep their arrival order.
  const order = results.map((_, i) => i).sort((a, b) => compare(results[a]!.runId, results[b]!.runId));
  return inStatementThenQueue(deps, async (ctx) => {
    const recorded = await recordNodeOutcomes(ctx.tx, order.map((i) => results[i]!), deps.settings.maxNodeOutputBytes);
    const out: Recorded[] = new Array(results.length);
    for (const [k, i] of order.entries()) out[i] = await advanced(ctx, recorded[k]!);
    return out;
  });
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
