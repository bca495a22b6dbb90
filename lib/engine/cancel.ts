import { activeChildRuns } from '../../db/runs.js';
import type { ErrorJson, RunStatus } from '../../db/types.js';
import { endRun } from './advance.js';
import type { EngineDeps } from './deps.js';
import { inTransaction } from './tx.js';

export type CancelResult = { cancelled: true } | { cancelled: false; status: RunStatus | undefined };

/**
 * Cancels a run: Postgres first (the run and every open node become `cancelled` in one
 * transaction, so any late result finds nothing to record), a NOTIFY on commit that aborts
 * running providers on every worker, then its queued jobs and timers, then its child runs.
 */
export async function cancelRun(deps: EngineDeps, runId: string, error: ErrorJson = { code: 'cancelled', message: 'run cancelled' }): Promise<CancelResult> {
  const result = await inTransaction(deps, (ctx) => endRun(ctx, runId, 'cancelled', error));
  if (!result.ended) return { cancelled: false, status: result.status };
  await endChildren(deps, runId, { code: 'parent_cancelled', message: `parent run ${runId} was cancelled` });
  deps.log.info({ runId }, 'run cancelled');
  return { cancelled: true };
}

/** Fails a run that passed its deadline (workflow `timeoutMs`); what is left is cancelled. */
export async function timeOutRun(deps: EngineDeps, runId: string, timeoutMs: number | undefined): Promise<boolean> {
  const error = { code: 'run_timeout', message: `the run exceeded its timeoutMs${timeoutMs ? ` of ${timeoutMs} ms` : ''}` };
  const result = await inTransaction(deps, (ctx) => endRun(ctx, runId, 'failed', error));
  if (!result.ended) return false;
  await endChildren(deps, runId, { code: 'parent_timeout', message: `parent run ${runId} timed out` });
  deps.log.warn({ runId }, 'run timed out');
  return true;
}

async function endChildren(deps: EngineDeps, runId: string, error: ErrorJson): Promise<void> {
  for (const child of await activeChildRuns(deps.db, runId)) await cancelRun(deps, child.id, error);
}
