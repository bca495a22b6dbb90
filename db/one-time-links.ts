import { sql } from 'kysely';
import type { Database } from './database.js';
import type { Role } from './types.js';

/**
 * Invitations and password resets: links that work once, before they expire. Taking one is a
 * conditional update (`used_at is null and expires_at > now()`), so two concurrent uses of the
 * same link cannot both succeed. An unknown token and a spent one are told apart, so a forged
 * link is a 404 and a used or expired one a 410.
 */
export type Taken<T> = { ok: true; row: T } | { ok: false; reason: 'unknown' | 'spent' };

export async function insertInvitation(
  db: Database,
  i: { workspaceId: string; email: string; role: Role; tokenHash: Buffer; ttlSeconds: number; byKey: string | null; byUser: string | null },
) {
  return db
    .insertInto('invitations')
    .values({
      workspace_id: i.workspaceId,
      email: i.email,
      role: i.role,
      token_hash: i.tokenHash,
      invited_by_key: i.byKey,
      invited_by_user: i.byUser,
      expires_at: sql<Date>`now() + make_interval(secs => ${i.ttlSeconds})`,
    })
    .returning(['id', 'expires_at'])
    .executeTakeFirstOrThrow();
}

export async function takeInvitation(db: Database, tokenHash: Buffer): Promise<Taken<{ id: string; workspace_id: string; email: string; role: Role }>> {
  const row = await db
    .updateTable('invitations')
    .set({ used_at: sql<Date>`now()` })
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .returning(['id', 'workspace_id', 'email', 'role'])
    .executeTakeFirst();
  if (row) return { ok: true, row };
  return { ok: false, reason: (await exists(db, 'invitations', tokenHash)) ? 'spent' : 'unknown' };
}

/** An invitation that is still usable: the accept page shows its email before the form is sent. */
export async function peekInvitation(db: Database, tokenHash: Buffer): Promise<Taken<{ email: string; role: Role; workspace_name: string }>> {
  const row = await db
    .selectFrom('invitations as i')
    .innerJoin('workspaces as w', 'w.id', 'i.workspace_id')
    .select(['i.email', 'i.role', 'w.name as workspace_name'])
    .where('i.token_hash', '=', tokenHash)
    .where('i.used_at', 'is', null)
    .where('i.expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
  if (row) return { ok: true, row };
  return { ok: false, reason: (await exists(db, 'invitations', tokenHash)) ? 'spent' : 'unknown' };
}

export async function insertPasswordReset(db: Database, r: { userId: string; tokenHash: Buffer; ttlSeconds: number }) {
  await db
    .insertInto('password_resets')
    .values({ user_id: r.userId, token_hash: r.tokenHash, expires_at: sql<Date>`now() + make_interval(secs => ${r.ttlSeconds})` })
    .execute();
}

export async function takePasswordReset(db: Database, tokenHash: Buffer): Promise<Taken<{ user_id: string }>> {
  const row = await db
    .updateTable('password_resets')
    .set({ used_at: sql<Date>`now()` })
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .returning(['user_id'])
    .executeTakeFirst();
  if (row) return { ok: true, row };
  return { ok: false, reason: (await exists(db, 'password_resets', tokenHash)) ? 'spent' : 'unknown' };
}

async function exists(db: Database, table: 'invitations' | 'password_resets', tokenHash: Buffer): Promise<boolean> {
  return (await db.selectFrom(table).select('id').where('token_hash', '=', tokenHash).executeTakeFirst()) !== undefined;
}
