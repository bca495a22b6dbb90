import type { Database } from './database.js';
import type { JsonValue, RunEventType } from './types.js';

export interface NewEvent {
  type: RunEventType;
  nodeId?: string | null;
  attempt?: number | null;
  data?: { [key: string]: JsonValue };
}

/** Appends events in order; call with the run's row lock held so ids follow commit order per run. */
export async function appendEvents(db: Database, runId: string, events: readonly NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto('run_events')
    .values(events.map((e) => ({
      run_id: runId,
      type: e.type,
      node_id: e.nodeId ?? null,
      attempt: e.attempt ?? null,
      data: JSON.stringify(e.data ?? {}),
    })))
    .execute();
}

export async function listEvents(db: Database, runId: string, afterId: number, limit = 1000) {
  return db
    .selectFrom('run_events')
    .selectAll()
    .where('run_id', '=', runId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** Events as parallel arrays, for `unnest(...) with ordinality`: ids follow the array's order. */
export function eventColumns(events: readonly NewEvent[]) {
  return {
    types: events.map((e) => e.type),
    nodeIds: events.map((e) => e.nodeId ?? null),
    attempts: events.map((e) => e.attempt ?? null),
    data: events.map((e) => JSON.stringify(e.data ?? {})),
  };
}
