import { randomUUID } from 'node:crypto';
import { OpenAPIHono, z } from '@hono/zod-openapi';
import { deleteCredential, findCredential, insertCredential, listCredentials, updateCredentialSecret } from '../../../db/credentials.js';
import { isUniqueViolation } from '../../../db/errors.js';
import type { Credential } from '../../../db/types.js';
import { CREDENTIAL_SCHEMAS, CREDENTIAL_TYPES, hintsFor } from '../../../lib/credentials/types.js';
import type { CredentialData } from '../../../lib/providers/types.js';
import { createKeyring } from '../../../lib/crypto.js';
import { badRequest, conflict, notFound } from '../../../lib/errors.js';
import { CREDENTIAL_NAME_PATTERN } from '../../../lib/workflows/definition.js';
import { audit } from '../audit.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { zodDetails } from '../errors.js';
import { defineRoute } from '../route.js';

const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });
const id = z.object({ id: z.string().uuid() });
const createBody = z
  .object({
    name: z.string().regex(CREDENTIAL_NAME_PATTERN, 'must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}'),
    type: z.enum(CREDENTIAL_TYPES as [string, ...string[]]),
    // Values keep their JSON types (an SMTP port is a number); each type's schema checks them.
    data: z.record(z.string(), z.unknown()),
  })
  .strict();
const updateBody = z.object({ data: z.record(z.string(), z.unknown()) }).strict();

const create = defineRoute('editor', { method: 'post', path: '/v1/credentials', tags: ['credentials'], summary: 'Store an encrypted credential', request: { body: { required: true, content: { 'application/json': { schema: createBody } } } }, responses: { 201: json('stored; data is never returned') } });
const list = defineRoute('viewer', { method: 'get', path: '/v1/credentials', tags: ['credentials'], summary: 'Credentials with masked hints', responses: { 200: json('list') } });
const get = defineRoute('viewer', { method: 'get', path: '/v1/credentials/{id}', tags: ['credentials'], summary: 'One credential, masked', request: { params: id }, responses: { 200: json('credential') } });
const update = defineRoute('editor', { method: 'put', path: '/v1/credentials/{id}', tags: ['credentials'], summary: 'Replace the secret data', request: { params: id, body: { required: true, content: { 'application/json': { schema: updateBody } } } }, responses: { 200: json('updated') } });
const remove = defineRoute('editor', { method: 'delete', path: '/v1/credentials/{id}', tags: ['credentials'], summary: 'Delete', request: { params: id }, responses: { 204: { description: 'deleted' } } });

type PublicCredential = Omit<Credential, 'nonce' | 'ciphertext'>;
const present = (c: PublicCredential) => ({ id: c.id, name: c.name, type: c.type, hints: c.hints, createdAt: c.created_at.toISOString(), updatedAt: c.updated_at.toISOString() });

export function credentialRoutes({ db, config }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();
  const keyring = createKeyring(config.ENCRYPTION_KEYS);
  const checkData = (type: string, data: unknown) => {
    const schema = CREDENTIAL_SCHEMAS[type as keyof typeof CREDENTIAL_SCHEMAS];
    const parsed = schema.safeParse(data);
    // zod issues name fields, never values: safe to return.
    if (!parsed.success) {
      const missing = parsed.error.issues.filter((i) => i.path.length === 1 && (data as Record<string, unknown> | null)?.[String(i.path[0])] === undefined).map((i) => String(i.path[0]));
      const named = missing.length ? `: missing ${[...new Set(missing)].join(', ')}` : '';
      throw badRequest(`data does not fit a ${type} credential${named}`, zodDetails(parsed.error, '/data'));
    }
    return parsed.data as CredentialData;
  };

  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    const data = checkData(body.type, body.data);
    const { workspaceId } = c.get('principal');
    const credentialId = randomUUID();
    const sealed = await keyring.seal(JSON.stringify(data), { workspaceId, credentialId });
    const row = await db
      .transaction()
      .execute(async (tx) => {
        const inserted = await insertCredential(tx, {
          id: credentialId,
          workspaceId,
          name: body.name,
          type: body.type as Credential['type'],
          hints: hintsFor(data),
          key_id: sealed.keyId,
          nonce: sealed.nonce,
          ciphertext: sealed.ciphertext,
        });
        await audit(c, tx, 'credential.create', 'credential', credentialId, { name: body.name, type: body.type });
        return inserted;
      })
      .catch((err) => {
        if (isUniqueViolation(err)) throw conflict(`A credential named '${body.name}' already exists.`, 'name_taken');
        throw err;
      });
    return c.json(present(row), 201);
  });

  app.openapi(list, async (c) => c.json({ items: (await listCredentials(db, c.get('principal').workspaceId)).map(present) }, 200));

  app.openapi(get, async (c) => {
    const row = await findCredential(db, c.get('principal').workspaceId, c.req.valid('param').id);
    if (!row) throw notFound('credential');
    return c.json(present(row), 200);
  });

  app.openapi(update, async (c) => {
    const { workspaceId } = c.get('principal');
    const existing = await findCredential(db, workspaceId, c.req.valid('param').id);
    if (!existing) throw notFound('credential');
    const data = checkData(existing.type, c.req.valid('json').data);
    const sealed = await keyring.seal(JSON.stringify(data), { workspaceId, credentialId: existing.id });
    const row = await db.transaction().execute(async (tx) => {
      const updated = await updateCredentialSecret(tx, workspaceId, existing.id, { key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext }, hintsFor(data));
      await audit(c, tx, 'credential.update', 'credential', existing.id);
      return updated;
    });
    if (!row) throw notFound('credential');
    return c.json(present(row), 200);
  });

  app.openapi(remove, async (c) => {
    const { workspaceId } = c.get('principal');
    const credentialId = c.req.valid('param').id;
    const deleted = await db.transaction().execute(async (tx) => {
      const ok = await deleteCredential(tx, workspaceId, credentialId);
      if (ok) await audit(c, tx, 'credential.delete', 'credential', credentialId);
      return ok;
    });
    if (!deleted) throw notFound('credential');
    return c.body(null, 204);
  });
  return app;
}
