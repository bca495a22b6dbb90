import { OpenAPIHono, z } from '@hono/zod-openapi';
import { insertKey, listKeys, revokeKey } from '../../../db/api-keys.js';
import { listAudit } from '../../../db/audit.js';
import { isUniqueViolation } from '../../../db/errors.js';
import { insertWorkspace } from '../../../db/workspaces.js';
import { displayPrefix, generateSecret, hashSecret } from '../../../lib/auth/api-keys.js';
import { badRequest, conflict, forbidden, notFound } from '../../../lib/errors.js';
import { NAME_PATTERN } from '../../../lib/workflows/definition.js';
import { audit } from '../audit.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { defineRoute } from '../route.js';

const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });
const keyBody = z
  .object({
    name: z.string().min(1).max(128),
    role: z.enum(['admin', 'editor', 'viewer']),
    rateLimitPerMinute: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

const createKey = defineRoute('admin', { method: 'post', path: '/v1/api-keys', tags: ['api keys'], summary: 'Create a key; the secret is shown once', request: { body: { required: true, content: { 'application/json': { schema: keyBody } } } }, responses: { 201: json('the key with its secret') } });
const listKeysRoute = defineRoute('admin', { method: 'get', path: '/v1/api-keys', tags: ['api keys'], summary: 'Active keys (no secrets)', responses: { 200: json('keys') } });
const revoke = defineRoute('admin', { method: 'delete', path: '/v1/api-keys/{id}', tags: ['api keys'], summary: 'Revoke at once', request: { params: z.object({ id: z.string().uuid() }) }, responses: { 204: { description: 'revoked' } } });
const createWorkspace = defineRoute('admin', { method: 'post', path: '/v1/workspaces', tags: ['workspaces'], summary: 'Create a workspace with its first admin key (admins of the default workspace)', request: { body: { required: true, content: { 'application/json': { schema: z.object({ name: z.string().regex(NAME_PATTERN, 'must match [a-z0-9][a-z0-9-_]{0,63}') }).strict() } } } }, responses: { 201: json('the workspace and its admin key') } });
const auditLog = defineRoute('admin', { method: 'get', path: '/v1/audit-log', tags: ['audit'], summary: 'Mutations, newest first', request: { query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50), cursor: z.string().regex(/^\d{1,18}$/, 'pass nextCursor from the previous page').optional() }) }, responses: { 200: json('a page') } });

export function keyRoutes({ db }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();

  app.openapi(createKey, async (c) => {
    const body = c.req.valid('json');
    const secret = generateSecret();
    const { workspaceId } = c.get('principal');
    const row = await db.transaction().execute(async (tx) => {
      const key = await insertKey(tx, { workspaceId, name: body.name, role: body.role, secretHash: hashSecret(secret), prefix: displayPrefix(secret), rateLimitPerMinute: body.rateLimitPerMinute });
      await audit(c, tx, 'api_key.create', 'api_key', key.id, { name: body.name, role: body.role });
      return key;
    });
    return c.json({ id: row.id, name: row.name, role: row.role, prefix: row.prefix, rateLimitPerMinute: row.rate_limit_per_minute, secret, createdAt: row.created_at.toISOString() }, 201);
  });

  app.openapi(listKeysRoute, async (c) => {
    const rows = await listKeys(db, c.get('principal').workspaceId);
    return c.json({
      items: rows.map((k) => ({ id: k.id, name: k.name, role: k.role, prefix: k.prefix, rateLimitPerMinute: k.rate_limit_per_minute, createdAt: k.created_at.toISOString(), lastUsedAt: k.last_used_at?.toISOString() ?? null })),
    }, 200);
  });

  app.openapi(revoke, async (c) => {
    const id = c.req.valid('param').id;
    const { workspaceId } = c.get('principal');
    const ok = await db.transaction().execute(async (tx) => {
      const revoked = await revokeKey(tx, workspaceId, id);
      if (revoked) await audit(c, tx, 'api_key.revoke', 'api_key', id);
      return revoked;
    });
    if (!ok) throw notFound('api key');
    return c.body(null, 204);
  });

  app.openapi(createWorkspace, async (c) => {
    if (!c.get('principal').isDefaultWorkspace) throw forbidden('Only admins of the default workspace create workspaces.');
    const { name } = c.req.valid('json');
    const secret = generateSecret();
    const result = await db
      .transaction()
      .execute(async (tx) => {
        const ws = await insertWorkspace(tx, name);
        const key = await insertKey(tx, { workspaceId: ws.id, name: 'admin', role: 'admin', secretHash: hashSecret(secret), prefix: displayPrefix(secret) });
        await audit(c, tx, 'workspace.create', 'workspace', ws.id, { name });
        return { ws, key };
      })
      .catch((err) => {
        if (isUniqueViolation(err)) throw conflict(`A workspace named '${name}' already exists.`, 'name_taken');
        throw err;
      });
    return c.json({ id: result.ws.id, name: result.ws.name, apiKey: { id: result.key.id, secret } }, 201);
  });

  app.openapi(auditLog, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const before = cursor === undefined ? undefined : Number(cursor);
    if (before !== undefined && !Number.isSafeInteger(before)) throw badRequest('invalid cursor');
    const rows = await listAudit(db, c.get('principal').workspaceId, limit, before);
    const items = rows.slice(0, limit);
    return c.json({
      items: items.map((e) => ({ id: e.id, action: e.action, targetType: e.target_type, targetId: e.target_id, keyId: e.api_key_id, requestId: e.request_id, details: e.details, createdAt: e.created_at.toISOString() })),
      nextCursor: rows.length > limit ? String(items[items.length - 1]!.id) : null,
    }, 200);
  });
  return app;
}
