import { sql } from 'kysely';
import type { Database } from './database.js';

export interface RateWindow {
  /** Requests counted in the current minute, this one included. */
  count: number;
  /** Seconds until the window resets (1..60). */
  resetSeconds: number;
}

/** The UNLOGGED tables that hold one-minute windows, each keyed by its primary key's columns. */
const WINDOWS = {
  apiKey: { table: 'api_key_rate_windows', keys: ['api_key_id'] },
  webhookPath: { table: 'webhook_rate_windows', keys: ['path'] },
  webhookFailure: { table: 'webhook_failure_windows', keys: ['path', 'client'] },
} as const;

export type RateWindowKind = keyof typeof WINDOWS;

/**
 * Counts one request against `key`'s fixed one-minute window, held in Postgres so every web
 * process shares it; the database clock decides the window, and the upsert makes it atomic.
 * `key` gives one value per key column, in order (a plain string for a one-column key).
 */
export async function hitRateWindow(db: Database, kind: RateWindowKind, key: string | readonly string[]): Promise<RateWindow> {
  const { table, keys } = WINDOWS[kind];
  const values = typeof key === 'string' ? [key] : key;
  if (values.length !== keys.length) throw new Error(`${kind} windows are keyed by ${keys.join(', ')}: got ${values.length} values`);
  const columns = sql.join(keys.map((k) => sql.ref(k)));
  const { rows } = await sql<{ count: number; reset_seconds: number }>`
    insert into ${sql.table(table)} as w (${columns}, window_start, count)
    values (${sql.join(values)}, date_trunc('minute', now()), 1)
    on conflict (${columns}) do update
      set count = case when w.window_start = excluded.window_start then w.count + 1 else 1 end,
          window_start = excluded.window_start
    returning count, ceil(extract(epoch from (window_start + interval '1 minute' - now())))::int as reset_seconds`.execute(db);
  const row = rows[0]!;
  return { count: row.count, resetSeconds: Math.min(60, Math.max(1, row.reset_seconds)) };
}

/** Forgets the windows of `kind` that ended: their next hit would start at 1 anyway. */
export async function pruneRateWindows(db: Database, kind: RateWindowKind): Promise<number> {
  const result = await sql`delete from ${sql.table(WINDOWS[kind].table)} where window_start < date_trunc('minute', now())`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
