import { sql } from 'kysely';
import type { Database } from './database.js';
import type { Role } from './types.js';

/** Who a request acts as: an API key (machines) or a person signed in to the console. */
export interface Principal {
  /** The key behind the request; null for a person's session. */
  keyId: string | null;
  /** The person behind the request; null for an API key (and a console session opened with one). */
  userId: string | null;
  workspaceId: string;
  role: Role;
  isDefaultWorkspace: boolean;
  rateLimitPerMinute: number | null;
  /** The console session carrying the request, when it came with the console's cookie. */
  sessionId?: string;
}

export interface KeyPrincipal extends Principal {
  keyId: string;
  userId: null;
  secretHash: Buffer;
}

export async function findActiveKeyByHash(db: Database, hash: Buffer): Promise<KeyPrincipal | undefined> {
  const row = await db
    .selectFrom('api_keys as k')
    .innerJoin('workspaces as w', 'w.id', 'k.workspace_id')
    .select(['k.id', 'k.workspace_id', 'k.role', 'k.rate_limit_per_minute', 'k.secret_hash', 'w.is_default'])
    .where('k.secret_hash', '=', hash)
    .where('k.revoked_at', 'is', null)
    .executeTakeFirst();
  return row && toPrincipal(row);
}

interface KeyRow { id: string; workspace_id: string; role: Role; rate_limit_per_minute: number | null; secret_hash: Buffer; is_default: boolean }

const toPrincipal = (row: KeyRow): KeyPrincipal => ({
  keyId: row.id,
  userId: null,
  workspaceId: row.workspace_id,
  role: row.role,
  isDefaultWorkspace: row.is_default,
  rateLimitPerMinute: row.rate_limit_per_minute,
  secretHash: row.secret_hash,
});

/** findActiveKeyByHash for many hashes in one statement, answered in their order. */
export async function findActiveKeysByHash(db: Database, hashes: readonly Buffer[]): Promise<(KeyPrincipal | undefined)[]> {
  // Arrays, not a list of parameters: one statement text for every batch size (prepared once).
  const { rows } = await sql<KeyRow>`
    select k.id, k.workspace_id, k.role, k.rate_limit_per_minute, k.secret_hash, w.is_default
      from api_keys k join workspaces w on w.id = k.workspace_id
     where k.secret_hash = any(${hashes}::bytea[]) and k.revoked_at is null`.execute(db);
  const byHash = new Map(rows.map((row) => [row.secret_hash.toString('hex'), row]));
  return hashes.map((hash) => {
    const row = byHash.get(hash.toString('hex'));
    return row && toPrincipal(row);
  });
}

/** Records use at most once a minute per key, so authentication does not write on every request. */
export async function touchKey(db: Database, keyId: string): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ last_used_at: sql<Date>`now()` })
    .where('id', '=', keyId)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`)]))
    .execute();
}

export interface NewKey {
  workspaceId: string;
  name: string;
  role: Role;
  secretHash: Buffer;
  prefix: string;
  rateLimitPerMinute?: number | null;
}

export async function insertKey(db: Database, key: NewKey) {
  return db
    .insertInto('api_keys')
    .values({
      workspace_id: key.workspaceId,
      name: key.name,
      role: key.role,
      secret_hash: key.secretHash,
      prefix: key.prefix,
      rate_limit_per_minute: key.rateLimitPerMinute ?? null,
    })
    .returning(['id', 'name', 'role', 'prefix', 'rate_limit_per_minute', 'created_at'])
    .executeTakeFirstOrThrow();
}

/** Inserts the key unless one with this hash exists; returns whether it was created. */
export async function ensureKey(db: Database, key: NewKey): Promise<boolean> {
  const res = await db
    .insertInto('api_keys')
    .values({ workspace_id: key.workspaceId, name: key.name, role: key.role, secret_hash: key.secretHash, prefix: key.prefix })
    .onConflict((oc) => oc.column('secret_hash').doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function listKeys(db: Database, workspaceId: string) {
  return db
    .selectFrom('api_keys')
    .select(['id', 'name', 'role', 'prefix', 'rate_limit_per_minute', 'created_at', 'last_used_at', 'revoked_at'])
    .where('workspace_id', '=', workspaceId)
    .where('revoked_at', 'is', null)
    .orderBy('created_at', 'desc')
    .execute();
}

/** Revocation is immediate: authentication reads revoked_at on every request. */
export async function revokeKey(db: Database, workspaceId: string, keyId: string): Promise<boolean> {
  const res = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql<Date>`now()` })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', keyId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
