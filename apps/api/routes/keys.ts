import { OpenAPIHono, z } from '@hono/zod-openapi';
import { insertKey, listKeys, revokeKey } from '../../../db/api-keys.js';
import { displayPrefix, generateSecret, hashSecret } from '../../../lib/auth/api-keys.js';
import { notFound } from '../../../lib/errors.js';
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

  return app;
}
