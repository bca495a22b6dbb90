import { sql } from 'kysely';
import type { Principal } from './api-keys.js';
import type { Database } from './database.js';
import type { Role } from './types.js';

/** A live console session and the principal it acts as: its key's, or its person's, in one workspace. */
export interface SessionPrincipal extends Principal {
  sessionId: string;
  expiresAt: Date;
}

/** A session opens for an API key (its workspace and role) or for a person (a membership). */
export type NewSession = { tokenHash: Buffer; workspaceId: string; role: Role; /** Seconds from now until the session ends, whatever happens. */ ttlSeconds: number } & (
  | { apiKeyId: string; userId?: undefined }
  | { userId: string; apiKeyId?: undefined }
);

export async function insertSession(db: Database, s: NewSession): Promise<{ id: string; expires_at: Date }> {
  return db
    .insertInto('console_sessions')
    .values({
      token_hash: s.tokenHash,
      api_key_id: s.apiKeyId ?? null,
      user_id: s.userId ?? null,
      workspace_id: s.workspaceId,
      role: s.role,
      expires_at: sql<Date>`now() + make_interval(secs => ${s.ttlSeconds})`,
    })
    .returning(['id', 'expires_at'])
    .executeTakeFirstOrThrow();
}

/**
 * The unexpired, unrevoked session with this token hash whose owner still holds: a key not
 * revoked, or a person still a member of the session's workspace. Revoking a key or removing
 * a member ends their sessions on their next request, with no second write to forget.
 */
export async function findActiveSession(db: Database, tokenHash: Buffer): Promise<SessionPrincipal | undefined> {
  const row = await db
    .selectFrom('console_sessions as s')
    .innerJoin('workspaces as w', 'w.id', 's.workspace_id')
    .leftJoin('api_keys as k', (j) => j.onRef('k.id', '=', 's.api_key_id').on('k.revoked_at', 'is', null))
    .leftJoin('memberships as m', (j) => j.onRef('m.user_id', '=', 's.user_id').onRef('m.workspace_id', '=', 's.workspace_id'))
    .select(['s.id', 's.workspace_id', 's.role', 's.expires_at', 's.user_id', 'k.id as key_id', 'k.rate_limit_per_minute', 'w.is_default', 'm.role as member_role'])
    .where('s.token_hash', '=', tokenHash)
    .where('s.revoked_at', 'is', null)
    .where('s.expires_at', '>', sql<Date>`now()`)
    .where((eb) => eb.or([eb('k.id', 'is not', null), eb('m.user_id', 'is not', null)]))
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    sessionId: row.id,
    keyId: row.key_id,
    userId: row.user_id,
    workspaceId: row.workspace_id,
    // A person's role is their membership's now, whatever it was at sign-in.
    role: row.member_role ?? row.role,
    isDefaultWorkspace: row.is_default,
    rateLimitPerMinute: row.rate_limit_per_minute,
    expiresAt: row.expires_at,
  };
}

/** Sign-out: the cookie's token stops working at once, in every web process. */
export async function revokeSession(db: Database, tokenHash: Buffer): Promise<boolean> {
  const res = await db
    .updateTable('console_sessions')
    .set({ revoked_at: sql<Date>`now()` })
    .where('token_hash', '=', tokenHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Housekeeping: sessions that ended (expired or revoked) more than `olderThanSeconds` ago. */
export async function deleteEndedSessions(db: Database, olderThanSeconds: number): Promise<number> {
  const res = await db
    .deleteFrom('console_sessions')
    .where((eb) =>
      eb.or([
        eb('expires_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`),
        eb('revoked_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`),
      ]),
    )
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
