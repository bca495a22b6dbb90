import { sql } from 'kysely';
import type { Database } from './database.js';

/**
 * Watches make the run_events trigger NOTIFY for a run (migration 0005). Registering one waits
 * for any transaction holding the run's row lock (every event is appended under it): a read
 * after this returns sees every event that did not notify.
 */
export async function watchRun(db: Database, runId: string, listener: string, ttlMs: number): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx
      .insertInto('run_event_watches')
      .values({ run_id: runId, listener, expires_at: sql<Date>`now() + make_interval(secs => ${ttlMs / 1000})` })
      .onConflict((oc) => oc.columns(['run_id', 'listener']).doUpdateSet({ expires_at: (eb) => eb.ref('excluded.expires_at') }))
      .execute();
    await sql`select 1 from runs where id = ${runId} for share`.execute(tx);
  });
}

export async function unwatchRun(db: Database, runId: string, listener: string): Promise<void> {
  await db.deleteFrom('run_event_watches').where('run_id', '=', runId).where('listener', '=', listener).execute();
}

/** Extends this listener's watches and forgets everyone's expired ones (a web process that died). */
export async function refreshWatches(db: Database, listener: string, runIds: readonly string[], ttlMs: number): Promise<void> {
  if (runIds.length > 0) {
    // An upsert, so a watch someone else expired (this process stalled) comes back.
    await sql`
      insert into run_event_watches (run_id, listener, expires_at)
      select r, ${listener}, now() + make_interval(secs => ${ttlMs / 1000}) from unnest(${runIds}::uuid[]) r
      on conflict (run_id, listener) do update set expires_at = excluded.expires_at`.execute(db);
  }
  await db.deleteFrom('run_event_watches').where('expires_at', '<', sql<Date>`now()`).execute();
}

export async function unwatchAll(db: Database, listener: string): Promise<void> {
  await db.deleteFrom('run_event_watches').where('listener', '=', listener).execute();
}
