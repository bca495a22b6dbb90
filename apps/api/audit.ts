import type { Context } from 'hono';
import { appendAudit } from '../../db/audit.js';
import type { Database } from '../../db/database.js';
import type { JsonValue } from '../../db/types.js';
import type { ApiEnv } from './context.js';

/** Records a mutation by the calling key or person; pass the transaction so the entry commits with the change. */
export function audit(c: Context<ApiEnv>, db: Database, action: string, targetType: string, targetId: string | null, details?: { [k: string]: JsonValue }) {
  const principal = c.get('principal');
  return appendAudit(db, {
    workspaceId: principal.workspaceId,
    apiKeyId: principal.keyId,
    userId: principal.userId,
    action,
    targetType,
    targetId,
    requestId: c.get('requestId'),
    details,
  });
}
