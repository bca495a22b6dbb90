import type { Database } from './database.js';
import type { JsonValue } from './types.js';

export interface AuditEntryInput {
  workspaceId: string;
  apiKeyId: string | null;
  action: string;
  targetType: string;
  targetId: string | null;
  requestId: string | null;
  details?: { [key: string]: JsonValue };
}

export async function appendAudit(db: Database, e: AuditEntryInput): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      workspace_id: e.workspaceId,
      api_key_id: e.apiKeyId,
      action: e.action,
      target_type: e.targetType,
      target_id: e.targetId,
      request_id: e.requestId,
      details: JSON.stringify(e.details ?? {}),
    })
    .execute();
}

export async function listAudit(db: Database, workspaceId: string, limit: number, beforeId?: number) {
  let q = db.selectFrom('audit_log').selectAll().where('workspace_id', '=', workspaceId);
  if (beforeId !== undefined) q = q.where('id', '<', beforeId);
  return q.orderBy('id', 'desc').limit(limit + 1).execute();
}
