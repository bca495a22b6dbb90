import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { usePreparedStatements } from './prepared-statements.js';
import type { DB } from './types.js';

export type Database = Kysely<DB>;

// int8 (bigint) arrives as a string by default; our bigints are event ids and counts, far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface PoolOptions {
  connectionString: string;
  max?: number;
  applicationName?: string;
  /** Bound every query so no request or job waits forever on a wedged database. */
  statementTimeoutMs?: number;
  /** Parse and plan each statement once per connection (see prepared-statements.ts). */
  preparedStatements?: boolean;
}

export function createPool({ connectionString, max = 10, applicationName, statementTimeoutMs = 30_000, preparedStatements = false }: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    application_name: applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    keepAlive: true,
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  if (preparedStatements) usePreparedStatements(pool);
  return pool;
}

/** Kysely over a pool the caller owns (and closes). */
export function createDb(pool: pg.Pool): Database {
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}
