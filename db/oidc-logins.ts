import { sql } from 'kysely';
import type { Database } from './database.js';

/** An OpenID Connect sign-in in flight: what its callback needs, found by its state's hash, once. */
export async function insertOidcLogin(db: Database, l: { stateHash: Buffer; nonce: string; codeVerifier: string; ttlSeconds: number }): Promise<void> {
  await db
    .insertInto('oidc_logins')
    .values({ state_hash: l.stateHash, nonce: l.nonce, code_verifier: l.codeVerifier, expires_at: sql<Date>`now() + make_interval(secs => ${l.ttlSeconds})` })
    .execute();
}

export async function takeOidcLogin(db: Database, stateHash: Buffer): Promise<{ nonce: string; code_verifier: string } | undefined> {
  return db
    .updateTable('oidc_logins')
    .set({ used_at: sql<Date>`now()` })
    .where('state_hash', '=', stateHash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .returning(['nonce', 'code_verifier'])
    .executeTakeFirst();
}

export async function pruneOidcLogins(db: Database): Promise<number> {
  const res = await db.deleteFrom('oidc_logins').where('expires_at', '<', sql<Date>`now() - interval '1 hour'`).executeTakeFirst();
  return Number(res.numDeletedRows);
}
