import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/database.js';
import { createDb, createPool, type Database } from './database.js';
import { beat, clearStuck, markStuck } from './workers.js';

describe('stuck marks on worker rows', () => {
  let database: TestDatabase;
  let db: Database;
  const worker = (id: string) => ({ id, host: 'h', pid: 1, queues: ['nodes'], concurrency: 1, inFlight: 0, jobsTaken: 0, heartbeatMs: 1000, lastJobStartedAgoS: null, lastJobFinishedAgoS: null });

  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDb(createPool({ connectionString: database.url, max: 2 }));
    await beat(db, worker('w1'));
    await beat(db, worker('w2'));
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  it('lets one of several schedulers report each change: the first to mark or clear it', async () => {
    // Two schedulers see w1 stuck at once: one marks it (and logs), the other finds it marked.
    expect(await Promise.all([markStuck(db, 'w1', 'not_consuming'), markStuck(db, 'w1', 'not_consuming')])).toSatisfy(
      (both: boolean[]) => both.filter(Boolean).length === 1,
    );
    // A new reason is a new report; the same one again is not.
    expect(await markStuck(db, 'w1', 'no_heartbeat')).toBe(true);
    expect(await markStuck(db, 'w1', 'no_heartbeat')).toBe(false);
    // A heartbeat does not erase the mark: only a scheduler that sees the worker consume again does.
    await beat(db, worker('w1'));
    await markStuck(db, 'w2', 'not_consuming');
    expect(await clearStuck(db, ['w2'])).toEqual([{ id: 'w1', host: 'h', pid: 1 }]);
    expect(await clearStuck(db, ['w2'])).toEqual([]);
    expect((await clearStuck(db, [])).map((w) => w.id)).toEqual(['w2']);
  });
});
