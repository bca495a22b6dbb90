import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { isConnectionUnavailable } from './errors.js';
import { usePreparedStatements } from './prepared-statements.js';
import type { DB } from './types.js';

export type Database = Kysely<DB>;

// int8 (bigint) arrives as a string by default; our bigints are event ids and counts, far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** One wait for a pool slot, or one connection handshake, gives up after this. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** A query keeps asking for a connection this long before its error surfaces (~15 s worst case with one last attempt). */
export const CONNECT_RETRY_MS = 10_000;

export interface PoolOptions {
  connectionString: string;
  /** Connections this process holds at most (DATABASE_POOL_SIZE); further queries wait for a free one. */
  max?: number;
  applicationName?: string;
  /** Bound every query so no request or job waits forever on a wedged database. */
  statementTimeoutMs?: number;
  /** Parse and plan each statement once per connection (see prepared-statements.ts). */
  preparedStatements?: boolean;
  /** How long a connection the server refuses, or a full pool, is retried before the query fails (default CONNECT_RETRY_MS). */
  connectRetryMs?: number;
  /** Told, at most every 10 s, how many acquisitions had to wait and retry since the last call: log it. */
  onRetry?: (info: { retries: number; error: string }) => void;
}

export function createPool({ connectionString, max = 10, applicationName, statementTimeoutMs = 30_000, preparedStatements = false, connectRetryMs = CONNECT_RETRY_MS, onRetry }: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    application_name: applicationName,
    // Covers both a wait for a free slot (pg-pool's pending queue) and the handshake of a new connection.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    keepAlive: true,
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  retryConnect(pool, connectRetryMs, throttled(onRetry));
  if (preparedStatements) usePreparedStatements(pool);
  return pool;
}

/** Kysely over a pool the caller owns (and closes). */
export function createDb(pool: pg.Pool): Database {
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/**
 * Connection refusal is backpressure: `pool.connect()` (which Kysely and `pool.query` both go
 * through) retries a refused connection (too many clients, the server starting or restarting)
 * or a timed-out wait for a slot, with jittered backoff, for `windowMs`. Only getting a
 * connection is retried, never a statement: nothing has been sent yet, so nothing can run twice.
 */
function retryConnect(pool: pg.Pool, windowMs: number, onRetry: (err: Error) => void): void {
  const connectOnce = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  const acquire = async (): Promise<pg.PoolClient> => {
    const deadline = Date.now() + windowMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await connectOnce();
      } catch (err) {
        const ceiling = Math.min(1_000, 50 * 2 ** attempt);
        const delay = ceiling / 2 + Math.random() * (ceiling / 2);
        if (!isConnectionUnavailable(err) || pool.ending || Date.now() + delay > deadline) throw err;
        onRetry(err as Error);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  };
  (pool as { connect: unknown }).connect = (callback?: ConnectCallback) => {
    if (!callback) return acquire();
    acquire().then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | undefined)),
      (err: Error) => callback(err, undefined, () => {}),
    );
    return undefined;
  };
}

function throttled(onRetry: PoolOptions['onRetry'], everyMs = 10_000): (err: Error) => void {
  let retries = 0;
  let last = 0;
  return (err) => {
    retries += 1;
    if (!onRetry || Date.now() - last < everyMs) return;
    onRetry({ retries, error: err.message });
    last = Date.now();
    retries = 0;
  };
}
