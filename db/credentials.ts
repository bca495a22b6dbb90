import { sql } from 'kysely';
import type { Database } from './database.js';
import type { CredentialType } from './types.js';

const PUBLIC_COLUMNS = ['id', 'workspace_id', 'name', 'type', 'key_id', 'hints', 'created_at', 'updated_at'] as const;

export async function findCredentialByName(db: Database, workspaceId: string, name: string) {
  return db.selectFrom('credentials').selectAll().where('workspace_id', '=', workspaceId).where('name', '=', name).executeTakeFirst();
}

export async function findCredential(db: Database, workspaceId: string, id: string) {
  return db.selectFrom('credentials').select(PUBLIC_COLUMNS).where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

export async function listCredentials(db: Database, workspaceId: string) {
  return db.selectFrom('credentials').select(PUBLIC_COLUMNS).where('workspace_id', '=', workspaceId).orderBy('name').execute();
}

export interface SealedRow { key_id: string; nonce: Buffer; ciphertext: Buffer }

export async function insertCredential(
  db: Database,
  row: { id: string; workspaceId: string; name: string; type: CredentialType; hints: Record<string, string> } & SealedRow,
) {
  return db
    .insertInto('credentials')
    .values({ id: row.id, workspace_id: row.workspaceId, name: row.name, type: row.type, key_id: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext, hints: JSON.stringify(row.hints) })
    .returning(PUBLIC_COLUMNS)
    .executeTakeFirstOrThrow();
}

/**
 * Replaces a credential's ciphertext. With `expected`, only if the row still holds that exact
 * ciphertext (key id and nonce: a nonce is never reused), so key rotation never overwrites a
 * secret a user replaced meanwhile.
 */
export async function updateCredentialSecret(
  db: Database,
  workspaceId: string,
  id: string,
  sealed: SealedRow,
  hints: Record<string, string>,
  expected?: { keyId: string; nonce: Buffer },
) {
  let q = db
    .updateTable('credentials')
    .set({ key_id: sealed.key_id, nonce: sealed.nonce, ciphertext: sealed.ciphertext, hints: JSON.stringify(hints), updated_at: sql<Date>`now()` })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id);
  if (expected) q = q.where('key_id', '=', expected.keyId).where('nonce', '=', expected.nonce);
  return q.returning(PUBLIC_COLUMNS).executeTakeFirst();
}

export async function deleteCredential(db: Database, workspaceId: string, id: string): Promise<boolean> {
  const res = await db.deleteFrom('credentials').where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** Credentials not yet under `currentKeyId`, in id order after `afterId`: what key rotation still has to re-encrypt. */
export async function credentialsNotUnderKey(db: Database, currentKeyId: string, limit: number, afterId?: string) {
  let q = db.selectFrom('credentials').selectAll().where('key_id', '<>', currentKeyId);
  if (afterId) q = q.where('id', '>', afterId);
  return q.orderBy('id').limit(limit).execute();
}

export async function countCredentialsNotUnderKey(db: Database, currentKeyId: string): Promise<number> {
  const row = await db.selectFrom('credentials').select((eb) => eb.fn.countAll<string>().as('n')).where('key_id', '<>', currentKeyId).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * The channel every change to a credentials row NOTIFYs with its workspace id (a trigger, see
 * migrations/0010_credential_changes.sql), or '*' after a TRUNCATE: workers drop cached credentials.
 */
export const CREDENTIAL_CHANGES_CHANNEL = 'conveyor_credentials';
