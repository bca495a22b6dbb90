import cron from 'node-cron';
import { deleteEndedSessions } from '../../db/console-sessions.js';
import { pruneOidcLogins } from '../../db/oidc-logins.js';
import { pruneSignInFailures } from '../../db/sign-in-failures.js';
import { SIGN_IN_WINDOW_SECONDS } from '../../lib/people/accounts.js';
import { pruneFinishedRuns } from '../../db/retention.js';
import { pruneRateWindows } from '../../db/rate-windows.js';
import type { Config } from '../../lib/config.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { sweep } from '../../lib/engine/sweeper.js';

/** Every 10 s: the sweeper re-creates what the queue lost. */
export const SWEEP_CRON = '*/10 * * * * *';
/** Every 10 minutes, at second 37 so it does not land on the sweeper's beat. */
export const RETENTION_CRON = '37 */10 * * * *';

/** Ended console sessions are kept this long (seconds), then deleted. */
const ENDED_SESSION_KEEP_S = 24 * 3600;

export interface Housekeeping {
  /** One retention pass now (tests; the cron task calls the same). */
  prune(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The scheduler's periodic chores on node-cron. Each runs under its own Postgres advisory lock,
 * so with several schedulers one works and the others skip; `noOverlap` keeps a slow pass from
 * stacking up in one process.
 */
export function startHousekeeping(deps: EngineDeps, config: Pick<Config, 'RETENTION_DAYS'>): Housekeeping {
  const { log } = deps;
  const sweeper = cron.schedule(
    SWEEP_CRON,
    async () => {
      try {
        const result = await sweep(deps);
        if (result.reenqueued || result.timers || result.deadlines || result.parents || result.admitted) log.info(result, 'sweep');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'sweep failed; next tick retries');
      }
    },
    { noOverlap: true, name: 'sweeper' },
  );
  const prune = async () => {
    try {
      const result = await pruneFinishedRuns(deps.db, { olderThanDays: config.RETENTION_DAYS });
      const windows = (await pruneRateWindows(deps.db, 'webhookPath')) + (await pruneRateWindows(deps.db, 'webhookFailure'));
      // Console sessions a day past their end (expired or signed out) are only clutter.
      await deleteEndedSessions(deps.db, ENDED_SESSION_KEEP_S);
      // Failed sign-ins older than their window count for nothing; abandoned SSO sign-ins likewise.
      await pruneSignInFailures(deps.db, SIGN_IN_WINDOW_SECONDS);
      await pruneOidcLogins(deps.db);
      if (result.deleted > 0) log.info({ ...result, retentionDays: config.RETENTION_DAYS, rateWindows: windows }, 'pruned finished runs past retention');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'retention pass failed; the next one retries');
    }
  };
  const retention = cron.schedule(RETENTION_CRON, prune, { noOverlap: true, name: 'retention' });
  return {
    prune,
    async stop() {
      await Promise.all([sweeper.stop(), retention.stop()]);
    },
  };
}
