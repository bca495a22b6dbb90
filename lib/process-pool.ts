import type pg from 'pg';
import { createPool } from '../db/database.js';
import { poolSize, type Config } from './config.js';
import type { Logger } from './logger.js';

type Kind = 'web' | 'worker' | 'scheduler';

/** What waits when connections are refused or the pool is busy, for the warning. */
const WAITING: Record<Kind, string> = { web: 'requests', worker: 'jobs', scheduler: 'ticks and sweeps' };

/**
 * A process's PostgreSQL pool, sized by the connection budget (DATABASE_POOL_SIZE or the kind's
 * default, never under `min`), not by its concurrency: a query finding every connection busy
 * waits for one, and a refused connection is retried (db/database.ts).
 */
export function processPool(config: Config, kind: Kind, log: Logger, min = 1): pg.Pool {
  const wanted = poolSize(config, kind);
  const max = Math.max(wanted, min);
  if (max > wanted) log.warn({ DATABASE_POOL_SIZE: wanted, using: max }, `DATABASE_POOL_SIZE is below the ${kind}'s minimum of ${min} connections; using ${max}`);
  return createPool({
    connectionString: config.DATABASE_URL,
    max,
    applicationName: `conveyor-${kind}`,
    preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
    onRetry: (info) => log.warn(info, `database connections refused or pool busy: ${WAITING[kind]} wait (see DATABASE_POOL_SIZE in the README)`),
  });
}
