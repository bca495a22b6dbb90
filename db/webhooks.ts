import { sql } from 'kysely';
import type { Database } from './database.js';

/** The live (not archived) workflow whose latest version declares this webhook path. */
export async function findWorkflowByWebhookPath(db: Database, path: string) {
  return db
    .selectFrom('workflows as w')
    .innerJoin('workflow_versions as v', (join) => join.onRef('v.workflow_id', '=', 'w.id').onRef('v.version', '=', 'w.latest_version'))
    .select(['w.id', 'w.workspace_id', 'w.name', 'w.latest_version', 'v.definition'])
    .where('w.webhook_path', '=', path)
    .where('w.archived_at', 'is', null)
    .executeTakeFirst();
}

export interface RateWindow {
  count: number;
  /** Seconds until the current one-minute window ends. */
  resetSeconds: number;
}

/** Counts one request against `path`'s current one-minute window (atomic across processes). */
export async function hitWebhookWindow(db: Database, path: string): Promise<RateWindow> {
  const { rows } = await sql<{ count: number; reset_seconds: number }>`
    insert into webhook_rate_windows as w (path, window_start, count)
    values (${path}, date_trunc('minute', now()), 1)
    on conflict (path) do update
      set count = case when w.window_start = excluded.window_start then w.count + 1 else 1 end,
          window_start = excluded.window_start
    returning count, ceil(extract(epoch from (window_start + interval '1 minute' - now())))::int as reset_seconds`.execute(db);
  const row = rows[0]!;
  return { count: row.count, resetSeconds: Math.min(60, Math.max(1, row.reset_seconds)) };
}

/** Forgets windows that ended: paths no longer called keep no row. */
export async function pruneWebhookWindows(db: Database): Promise<number> {
  const res = await db.deleteFrom('webhook_rate_windows').where('window_start', '<', sql<Date>`date_trunc('minute', now())`).executeTakeFirst();
  return Number(res.numDeletedRows);
}
