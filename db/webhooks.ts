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
