import { OpenAPIHono, z } from '@hono/zod-openapi';
import { insertKey } from '../../../db/api-keys.js';
import { isUniqueViolation } from '../../../db/errors.js';
import { insertWorkspace } from '../../../db/workspaces.js';
import { displayPrefix, generateSecret, hashSecret } from '../../../lib/auth/api-keys.js';
import { conflict, forbidden } from '../../../lib/errors.js';
import { NAME_PATTERN } from '../../../lib/workflows/definition.js';
import { audit } from '../audit.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { defineRoute } from '../route.js';

const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });
const body = z.object({ name: z.string().regex(NAME_PATTERN, 'must match [a-z0-9][a-z0-9-_]{0,63}') }).strict();

const create = defineRoute('admin', {
  method: 'post',
  path: '/v1/workspaces',
  tags: ['workspaces'],
  summary: 'Create a workspace with its first admin key (admins of the default workspace only)',
  request: { body: { required: true, content: { 'application/json': { schema: body } } } },
  responses: { 201: json('the workspace and its admin key; the secret is shown once') },
});

export function workspaceRoutes({ db }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();

  app.openapi(create, async (c) => {
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
    return c.json({ id: result.ws.id, name: result.ws.name, createdAt: result.ws.created_at.toISOString(), apiKey: { id: result.key.id, secret } }, 201);
  });
  return app;
}
