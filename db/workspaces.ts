import type { Database } from './database.js';

export const DEFAULT_WORKSPACE_NAME = 'default';

/** The default workspace, created on first call; safe under concurrent callers. */
export async function ensureDefaultWorkspace(db: Database): Promise<{ id: string; name: string }> {
  await db
    .insertInto('workspaces')
    .values({ name: DEFAULT_WORKSPACE_NAME, is_default: true })
    .onConflict((oc) => oc.doNothing())
    .execute();
  return db
    .selectFrom('workspaces')
    .select(['id', 'name'])
    .where('is_default', '=', true)
    .executeTakeFirstOrThrow();
}

export async function insertWorkspace(db: Database, name: string) {
  return db.insertInto('workspaces').values({ name }).returning(['id', 'name', 'created_at']).executeTakeFirstOrThrow();
}
