import type { Database } from '../../db/database.js';
import { TERMINAL_RUN_STATUSES, type Run } from '../../db/types.js';

export interface WaitOptions {
  timeoutMs: number;
  /** Polling period; small enough to answer promptly, large enough to cost little. */
  intervalMs?: number;
  /** The caller went away: stop waiting. */
  signal?: AbortSignal;
}

/**
 * Polls the run's status in Postgres until it ends or `timeoutMs` passes, whichever comes first.
 * Bounded by construction; a notification hub can replace the polling behind this signature.
 */
export async function waitForRunEnd(db: Database, runId: string, opts: WaitOptions): Promise<Pick<Run, 'id' | 'status' | 'output' | 'error'> | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 75;
  for (;;) {
    const run = await db.selectFrom('runs').select(['id', 'status', 'output', 'error']).where('id', '=', runId).executeTakeFirst();
    if (!run) return undefined;
    if (TERMINAL_RUN_STATUSES.includes(run.status)) return run;
    const left = deadline - Date.now();
    if (left <= 0 || opts.signal?.aborted) return undefined;
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, left)));
  }
}
