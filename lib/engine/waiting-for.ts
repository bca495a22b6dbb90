import { countRunning, heldExclusiveKeys } from '../../db/admission.js';
import type { NodeRun, Run } from '../../db/types.js';
import type { EngineDeps } from './deps.js';
import { nodeQueueFor } from './queues.js';
import type { CompiledVersion } from './versions.js';

export interface Waits {
  run: string | null;
  nodes: Map<string, string | null>;
}

/**
 * "Why is it waiting?" for GET /v1/runs/:id, worked out when asked rather than kept up to date
 * on every change: a queued run waits for a concurrency slot or its exclusive key; a pending
 * node for its upstream nodes; a queued node for a worker (behind N jobs) or its retry backoff;
 * a waiting node for what it parked on (a delay, a signal, a child run).
 */
export async function describeWaits(deps: EngineDeps, run: Run, nodes: readonly NodeRun[], compiled: CompiledVersion): Promise<Waits> {
  const status = new Map(nodes.map((n) => [n.node_id, n.status]));
  const result: Waits = { run: null, nodes: new Map() };
  if (run.status === 'queued') result.run = await runWait(deps, run);
  const depth = new Map<string, Promise<number>>();
  const behind = (queue: string) => {
    let p = depth.get(queue);
    if (!p) {
      p = deps.queues
        .queue(queue)
        .getJobCounts('wait', 'prioritized')
        .then((c) => Object.values(c).reduce((a, b) => a + b, 0))
        .catch(() => -1);
      depth.set(queue, p);
    }
    return p;
  };
  await Promise.all(
    nodes.map(async (n) => {
      let why: string | null = null;
      switch (n.status) {
        case 'pending': {
          const open = (compiled.dag.preds.get(n.node_id) ?? []).filter((p) => ['pending', 'queued', 'running', 'waiting'].includes(status.get(p) ?? ''));
          why = run.status === 'queued' ? 'the run to start' : open.length ? `upstream nodes: ${open.join(', ')}` : 'its upstream nodes';
          break;
        }
        case 'queued': {
          if (n.waiting_for) why = n.waiting_for;
          else {
            const ahead = await behind(nodeQueueFor(deps.registry, n.type));
            why = ahead < 0 ? 'a worker' : `a worker: queued behind ${Math.max(0, ahead - 1)} jobs`;
          }
          break;
        }
        case 'waiting':
          why = n.waiting_for;
          break;
        default:
          why = null;
      }
      result.nodes.set(n.node_id, why);
    }),
  );
  return result;
}

async function runWait(deps: EngineDeps, run: Run): Promise<string> {
  if (run.exclusive_key && (await heldExclusiveKeys(deps.db, [run.exclusive_key])).size > 0) {
    return `the previous run holding '${run.exclusive_key}' to end`;
  }
  const wf = await deps.db.selectFrom('workflows').select('concurrency').where('id', '=', run.workflow_id).executeTakeFirst();
  if (wf?.concurrency) return `a concurrency slot: ${await countRunning(deps.db, run.workflow_id)}/${wf.concurrency} running`;
  return 'admission';
}
