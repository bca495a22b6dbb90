import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../lib/auth/api-keys.js';
import { createTestDatabase, type TestDatabase } from '../test/database.js';
import { deleteEndedSessions, findActiveSession, insertSession, revokeSession } from './console-sessions.js';
import { createDb, createPool, type Database } from './database.js';

describe('console sessions in the database', () => {
  let database: TestDatabase;
  let db: Database;
  let keyId: string;
  let workspaceId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDb(createPool({ connectionString: database.url, max: 2 }));
    const ws = await db.insertInto('workspaces').values({ name: 'sessions' }).returning('id').executeTakeFirstOrThrow();
    workspaceId = ws.id;
    const key = await db.insertInto('api_keys').values({ workspace_id: ws.id, name: 'k', role: 'editor', secret_hash: hashSecret('cvy_sessions_key'), prefix: 'cvy_se' }).returning('id').executeTakeFirstOrThrow();
    keyId = key.id;
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  const hash = (s: string) => hashSecret(`token ${s}`);

  it('finds a live session with its principal, and not once revoked or expired', async () => {
    await insertSession(db, { tokenHash: hash('a'), apiKeyId: keyId, workspaceId, role: 'editor', ttlSeconds: 60 });
    expect(await findActiveSession(db, hash('a'))).toMatchObject({ keyId, workspaceId, role: 'editor', isDefaultWorkspace: false });
    expect(await findActiveSession(db, hash('unknown'))).toBeUndefined();
    expect(await revokeSession(db, hash('a'))).toBe(true);
    expect(await revokeSession(db, hash('a'))).toBe(false);
    expect(await findActiveSession(db, hash('a'))).toBeUndefined();
    await insertSession(db, { tokenHash: hash('b'), apiKeyId: keyId, workspaceId, role: 'editor', ttlSeconds: 0 });
    expect(await findActiveSession(db, hash('b'))).toBeUndefined();
  });

  it('needs an owner: a key (or, later, a user)', async () => {
    await expect(db.insertInto('console_sessions').values({ token_hash: hash('c'), workspace_id: workspaceId, role: 'viewer', expires_at: new Date(Date.now() + 60_000) }).execute()).rejects.toThrow(/console_sessions_has_owner/);
  });

  it('housekeeping deletes sessions ended longer ago than asked, and keeps live ones', async () => {
    await insertSession(db, { tokenHash: hash('live'), apiKeyId: keyId, workspaceId, role: 'editor', ttlSeconds: 3600 });
    await db.updateTable('console_sessions').set({ expires_at: new Date(Date.now() - 7200_000) }).where('token_hash', '=', hash('b')).execute();
    expect(await deleteEndedSessions(db, 3600)).toBe(1);
    const left = await db.selectFrom('console_sessions').select('token_hash').execute();
    expect(left.map((r) => r.token_hash.toString('hex')).sort()).toEqual([hash('a'), hash('live')].map((h) => h.toString('hex')).sort());
  });
});
