import type { Database } from './database.js';
import type { JsonValue } from './types.js';

export interface AuditEntryInput {
  workspaceId: string;
  apiKeyId: string | null;
  /** The person behind a console action; API-key actions leave it null. */
  userId?: string | null;
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
      user_id: e.userId ?? null,
      action: e.action,
      target_type: e.targetType,
      target_id: e.targetId,
      request_id: e.requestId,
      details: JSON.stringify(e.details ?? {}),
    })
    .execute();
}

/** Newest first, with the person behind each console action (their email and name). */
export async function listAudit(db: Database, workspaceId: string, limit: number, beforeId?: number) {
  let q = db
    .selectFrom('audit_log as a')
    .leftJoin('users as u', 'u.id', 'a.user_id')
    .selectAll('a')
    .select(['u.email as user_email', 'u.name as user_name'])
    .where('a.workspace_id', '=', workspaceId);
  if (beforeId !== undefined) q = q.where('a.id', '<', beforeId);
  return q.orderBy('a.id', 'desc').limit(limit + 1).execute();
}
