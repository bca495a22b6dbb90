import { OpenAPIHono, z } from '@hono/zod-openapi';
import { listAudit } from '../../../db/audit.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { defineRoute } from '../route.js';

const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });
const query = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: 'page size, 1..200' }),
  // Entry ids are a bigint sequence: the cursor is the last id of the previous page.
  cursor: z.string().regex(/^[1-9]\d{0,14}$/, 'pass nextCursor from the previous page').optional(),
});

const list = defineRoute('admin', {
  method: 'get',
  path: '/v1/audit-log',
  tags: ['audit'],
  summary: 'Mutations in this workspace, newest first (keyset pagination), each with the key or the person who made it',
  request: { query },
  responses: { 200: json('a page: {items, nextCursor}') },
});

export function auditLogRoutes({ db }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();

  app.openapi(list, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const rows = await listAudit(db, c.get('principal').workspaceId, limit, cursor === undefined ? undefined : Number(cursor));
    const items = rows.slice(0, limit);
    return c.json({
      items: items.map((e) => ({
        id: String(e.id),
        action: e.action,
        targetType: e.target_type,
        targetId: e.target_id,
        keyId: e.api_key_id,
        userId: e.user_id,
        user: e.user_id ? { email: e.user_email, name: e.user_name } : null,
        requestId: e.request_id,
        details: e.details,
        createdAt: e.created_at.toISOString(),
      })),
      nextCursor: rows.length > limit ? String(items[items.length - 1]!.id) : null,
    }, 200);
  });
  return app;
}
