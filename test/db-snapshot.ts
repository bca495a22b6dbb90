import { sql } from 'kysely';
import type { Database } from '../db/database.js';

export interface SnapshotOptions {
  /** Columns that legitimately move on a read (e.g. `api_keys.last_used_at`). */
  ignoreColumns?: Record<string, string[]>;
  /** Tables left out entirely (e.g. rate-limit counters). */
  ignoreTables?: string[];
}

/** Row count and an md5 over every row of every table in `public`: equal snapshots mean nothing changed. */
export async function snapshotTables(db: Database, opts: SnapshotOptions = {}): Promise<Record<string, string>> {
  const { rows: columns } = await sql<{ table_name: string; column_name: string }>`
    select table_name, column_name from information_schema.columns
    where table_schema = 'public' order by table_name, ordinal_position`.execute(db);
  const tables = new Map<string, string[]>();
  for (const c of columns) {
    if (opts.ignoreTables?.includes(c.table_name) || opts.ignoreColumns?.[c.table_name]?.includes(c.column_name)) continue;
    tables.set(c.table_name, [...(tables.get(c.table_name) ?? []), c.column_name]);
  }
  const out: Record<string, string> = {};
  for (const [table, cols] of tables) {
    const list = cols.map((c) => `"${c}"`).join(', ');
    const { rows } = await sql<{ n: string; digest: string | null }>`
      select count(*)::text as n, md5(string_agg(t::text, '|' order by t::text)) as digest
      from (select ${sql.raw(list)} from ${sql.table(table)}) t`.execute(db);
    out[table] = `${rows[0]!.n}:${rows[0]!.digest ?? '-'}`;
  }
  return out;
}
