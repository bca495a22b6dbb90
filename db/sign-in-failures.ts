import { sql } from 'kysely';
import type { Database } from './database.js';

/**
 * Failed sign-ins counted per subject (`account:<email>`, `client:<address>`) over a sliding
 * window, shared by every web process. Returns, for the subject that is furthest over `limit`,
 * the seconds until it may try again; undefined when every subject is under it.
 */
export async function signInBlockedFor(db: Database, subjects: readonly string[], limit: number, windowSeconds: number): Promise<number | undefined> {
  const { rows } = await sql<{ retry_after: number }>`
    select ceil(extract(epoch from (
             (select failed_at from sign_in_failures f
               where f.subject = s.subject and f.failed_at > now() - make_interval(secs => ${windowSeconds})
               order by failed_at desc offset ${limit - 1} limit 1)
             + make_interval(secs => ${windowSeconds}) - now())))::int as retry_after
      from unnest(${subjects}::text[]) as s(subject)`.execute(db);
  const waits = rows.map((r) => r.retry_after).filter((s): s is number => s !== null && s > 0);
  return waits.length ? Math.max(...waits) : undefined;
}

export async function recordSignInFailure(db: Database, subjects: readonly string[]): Promise<void> {
  await sql`insert into sign_in_failures (subject) select unnest(${subjects}::text[])`.execute(db);
}

export async function clearSignInFailures(db: Database, subject: string): Promise<void> {
  await db.deleteFrom('sign_in_failures').where('subject', '=', subject).execute();
}

export async function pruneSignInFailures(db: Database, windowSeconds: number): Promise<number> {
  const res = await db.deleteFrom('sign_in_failures').where('failed_at', '<', sql<Date>`now() - make_interval(secs => ${windowSeconds})`).executeTakeFirst();
  return Number(res.numDeletedRows);
}
