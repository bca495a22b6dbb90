import { sql } from 'kysely';
import type { Database } from './database.js';

export interface RateWindow {
  /** Requests counted in the current minute, this one included. */
  count: number;
  /** Seconds until the window resets (1..60). */
  resetSeconds: number;
}

/** The UNLOGGED tables that hold one-minute windows, each keyed by one column. */
const WINDOWS = {
  apiKey: { table: 'api_key_rate_windows', key: 'api_key_id' },
  webhookPath: { table: 'webhook_rate_windows', key: 'path' },
} as const;

/**
 * Counts one request against `key`'s fixed one-minute window, held in Postgres so every web
 * process shares it; the database clock decides the window, and the upsert makes it atomic.
 */
export async function hitRateWindow(db: Database, kind: keyof typeof WINDOWS, key: string): Promise<RateWindow> {
  const { table, key: column } = WINDOWS[kind];
  const { rows } = await sql<{ count: number; reset_seconds: number }>`
    insert into ${sql.table(table)} as w (${sql.ref(column)}, window_start, count)
    values (${key}, date_trunc('minute', now()), 1)
    on conflict (${sql.ref(column)}) do update
      set count = case when w.window_start = excluded.window_start then w.count + 1 else 1 end,
          window_start = excluded.window_start
    returning count, ceil(extract(epoch from (window_start + interval '1 minute' - now())))::int as reset_seconds`.execute(db);
  const row = rows[0]!;
  return { count: row.count, resetSeconds: Math.min(60, Math.max(1, row.reset_seconds)) };
}
