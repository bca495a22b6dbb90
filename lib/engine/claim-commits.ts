import { claimNode, claimNodes, type ClaimRequest, type ClaimedNode } from '../../db/node-runs.js';
import { GroupCommit } from '../group-commit.js';
import type { EngineDeps } from './deps.js';

/**
 * Node claims of one worker process, group-committed like their results (result-commits.ts):
 * the claims that arrive while a claim statement is in flight are made together in the next,
 * one statement and one commit for all, runs locked in id order. A claim is still the
 * conditional update `queued → running`: a duplicate delivery, in a batch or not, claims nothing.
 */
export function claim(deps: EngineDeps, runId: string, nodeId: string): Promise<ClaimedNode | undefined> {
  return commitsFor(deps).submit({ runId, nodeId });
}

const perDeps = new WeakMap<EngineDeps, GroupCommit<ClaimRequest, ClaimedNode | undefined>>();

function commitsFor(deps: EngineDeps) {
  let commits = perDeps.get(deps);
  if (!commits) {
    commits = new GroupCommit<ClaimRequest, ClaimedNode | undefined>(
      (requests) => claimBatch(deps, requests),
      (r) => claimNode(deps.db, r.runId, r.nodeId, deps.settings.nodeLockMs),
      // As results (result-commits.ts): one batch in flight, the next is whatever arrived meanwhile.
      { maxInFlight: 1 },
    );
    perDeps.set(deps, commits);
  }
  return commits;
}

async function claimBatch(deps: EngineDeps, requests: ClaimRequest[]): Promise<(ClaimedNode | undefined)[]> {
  if (requests.length === 1) return [await claimNode(deps.db, requests[0]!.runId, requests[0]!.nodeId, deps.settings.nodeLockMs)];
  const rows = await claimNodes(deps.db, requests, deps.settings.nodeLockMs);
  const byKey = new Map(rows.map(({ run_id, node_id, ...claimed }) => [`${run_id} ${node_id}`, claimed as ClaimedNode]));
  // A node asked for twice in one batch was claimed once: the first asker has it.
  return requests.map((r) => {
    const key = `${r.runId} ${r.nodeId}`;
    const claimed = byKey.get(key);
    byKey.delete(key);
    return claimed;
  });
}
