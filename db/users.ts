import { sql } from 'kysely';
import type { Database } from './database.js';
import type { Role } from './types.js';

/** People (migration 0016). Emails are stored lower-cased; callers normalise before looking up. */
export interface UserRow {
  id: string;
  email: string;
  name: string;
  password_hash: string | null;
}

export async function findUserByEmail(db: Database, email: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').select(['id', 'email', 'name', 'password_hash']).where('email', '=', email).executeTakeFirst();
}

export async function findUserById(db: Database, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').select(['id', 'email', 'name', 'password_hash']).where('id', '=', id).executeTakeFirst();
}

/** Creates the user, or returns the existing one with that email untouched (`created: false`). */
export async function ensureUser(db: Database, u: { email: string; name: string; passwordHash: string | null; oidcSubject?: string }) {
  const inserted = await db
    .insertInto('users')
    .values({ email: u.email, name: u.name, password_hash: u.passwordHash, oidc_subject: u.oidcSubject ?? null, password_changed_at: u.passwordHash ? sql<Date>`now()` : null })
    .onConflict((oc) => oc.column('email').doNothing())
    .returning(['id', 'email', 'name', 'password_hash'])
    .executeTakeFirst();
  if (inserted) return { user: inserted, created: true };
  return { user: (await findUserByEmail(db, u.email))!, created: false };
}

/** Adds the user to a workspace, or changes their role there. */
export async function upsertMembership(db: Database, userId: string, workspaceId: string, role: Role): Promise<void> {
  await db
    .insertInto('memberships')
    .values({ user_id: userId, workspace_id: workspaceId, role })
    .onConflict((oc) => oc.columns(['user_id', 'workspace_id']).doUpdateSet({ role }))
    .execute();
}

export async function membershipsOf(db: Database, userId: string) {
  return db
    .selectFrom('memberships as m')
    .innerJoin('workspaces as w', 'w.id', 'm.workspace_id')
    .select(['m.workspace_id', 'w.name as workspace_name', 'm.role'])
    .where('m.user_id', '=', userId)
    .orderBy('w.name')
    .execute();
}

export async function membersOf(db: Database, workspaceId: string) {
  return db
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['u.id', 'u.email', 'u.name', 'm.role', 'm.created_at'])
    .where('m.workspace_id', '=', workspaceId)
    .orderBy('u.email')
    .execute();
}

/**
 * Removes a member and ends their sessions in that workspace in one statement, so a removed
 * member's cookie stops working on its next request in every web process.
 */
export async function removeMembership(db: Database, userId: string, workspaceId: string): Promise<boolean> {
  const { rows } = await sql<{ removed: number }>`
    with m as (
      delete from memberships where user_id = ${userId} and workspace_id = ${workspaceId} returning user_id
    ), s as (
      update console_sessions set revoked_at = now()
       where user_id in (select user_id from m) and workspace_id = ${workspaceId} and revoked_at is null
    )
    select count(*)::int as removed from m`.execute(db);
  return rows[0]!.removed > 0;
}

/** Sets a new password and ends every session of the user but `keepSessionId` (none after a reset link), in one statement. */
export async function setPassword(db: Database, userId: string, passwordHash: string, keepSessionId?: string): Promise<void> {
  await sql`
    with u as (
      update users set password_hash = ${passwordHash}, password_changed_at = now() where id = ${userId} returning id
    )
    update console_sessions set revoked_at = now()
     where user_id in (select id from u) and revoked_at is null and (${keepSessionId ?? null}::uuid is null or id <> ${keepSessionId ?? null}::uuid)`.execute(db);
}
