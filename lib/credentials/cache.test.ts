import { randomBytes, randomUUID } from 'node:crypto';
import { sql, type KyselyPlugin } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CREDENTIAL_CHANGES_CHANNEL, insertCredential } from '../../db/credentials.js';
import { createDb, createPool, type Database } from '../../db/database.js';
import { createTestDatabase, type TestDatabase } from '../../test/database.js';
import { testLogger } from '../../test/stack.js';
import { createKeyring, type Keyring } from '../crypto.js';
import { RunAborts } from '../engine/aborts.js';
import { listenForCancellations } from '../engine/cancel-listener.js';
import type { CredentialResolver } from '../engine/deps.js';
import { cachedCredentials, CREDENTIAL_CACHE_TTL_MS, type CachedCredentialResolver } from './cache.js';
import { credentialResolver } from './resolver.js';
import { hintsFor } from './types.js';

const keyring = createKeyring([{ id: 'k1', key: new Uint8Array(randomBytes(32)) }]);

describe('the worker’s credential cache', () => {
  let database: TestDatabase;
  let db: Database;
  let workspaceId: string;
  const counts = { queries: 0, decrypts: 0 };
  let resolver: CredentialResolver;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDb(createPool({ connectionString: database.url, max: 4 }));
    workspaceId = (await db.insertInto('workspaces').values({ name: 'cache' }).returning('id').executeTakeFirstOrThrow()).id;
    // What the wrapped resolver costs: every query it sends and every decryption it does.
    const counting: KyselyPlugin = {
      transformQuery: ({ node }) => (counts.queries++, node),
      transformResult: async ({ result }) => result,
    };
    const countingKeyring: Keyring = { ...keyring, open: (sealed, binding) => (counts.decrypts++, keyring.open(sealed, binding)) };
    resolver = credentialResolver(db.withPlugin(counting), countingKeyring);
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  const store = async (name: string, token: string, ws = workspaceId) => {
    const id = randomUUID();
    const sealed = await keyring.seal(JSON.stringify({ token }), { workspaceId: ws, credentialId: id });
    await insertCredential(db, { id, workspaceId: ws, name, type: 'bearer', hints: hintsFor({ token }), key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext });
    return id;
  };
  /** Replaces a secret with plain SQL, as an operator (or any writer but the API) would. */
  const resealBySql = async (id: string, token: string) => {
    const sealed = await keyring.seal(JSON.stringify({ token }), { workspaceId, credentialId: id });
    await sql`update credentials set key_id = ${sealed.keyId}, nonce = ${sealed.nonce}, ciphertext = ${sealed.ciphertext} where id = ${id}`.execute(db);
  };
  const bearer = (token: string) => ({ type: 'bearer', data: { token } });
  const listening = async (cache: CachedCredentialResolver) => {
    const listener = listenForCancellations(database.url, new RunAborts(), testLogger(), { credentials: cache });
    closers.push(() => listener.close());
    await listener.ready;
    return listener;
  };
  const until = async <T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number) => {
    const started = Date.now();
    for (;;) {
      const v = await probe();
      if (ok(v)) return Date.now() - started;
      if (Date.now() - started > timeoutMs) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const frozen = () => 0; // a clock that never moves: only an invalidation can drop an entry

  it('a second lookup within the TTL sends no query and decrypts nothing', async () => {
    await store('reused', 'tok-1');
    const cache = cachedCredentials(resolver, { now: frozen });
    counts.queries = counts.decrypts = 0;
    expect(await cache(workspaceId, 'reused')).toEqual(bearer('tok-1'));
    expect(counts).toEqual({ queries: 1, decrypts: 1 });
    for (let i = 0; i < 5; i++) expect(await cache(workspaceId, 'reused')).toEqual(bearer('tok-1'));
    expect(counts).toEqual({ queries: 1, decrypts: 1 });
    // Concurrent lookups of a cold key share one query too.
    cache.clear();
    const many = await Promise.all(Array.from({ length: 10 }, () => cache(workspaceId, 'reused')));
    expect(many).toEqual(Array(10).fill(bearer('tok-1')));
    expect(counts).toEqual({ queries: 2, decrypts: 2 });
    // Each caller gets its own copy: a provider altering it cannot alter the next node's.
    (many[0]!.data as Record<string, string>).token = 'mutated';
    expect(await cache(workspaceId, 'reused')).toEqual(bearer('tok-1'));
  });

  it('an update through SQL NOTIFYs the listener, which drops the entry: the next lookup sees the new value within a second', async () => {
    const id = await store('updated', 'old-token');
    const cache = cachedCredentials(resolver, { now: frozen });
    await listening(cache);
    expect(await cache(workspaceId, 'updated')).toEqual(bearer('old-token'));
    await resealBySql(id, 'new-token');
    const ms = await until('lookup after update', () => cache(workspaceId, 'updated'), (v) => v?.data.token === 'new-token', 1000);
    expect(ms).toBeLessThan(1000);
  });

  it('a delete through SQL is seen the same way: the next lookup is undefined', async () => {
    const id = await store('deleted', 'doomed-token');
    const cache = cachedCredentials(resolver, { now: frozen });
    await listening(cache);
    expect(await cache(workspaceId, 'deleted')).toEqual(bearer('doomed-token'));
    await db.deleteFrom('credentials').where('id', '=', id).execute();
    await until('lookup after delete', () => cache(workspaceId, 'deleted'), (v) => v === undefined, 1000);
    expect(cache.size).toBe(0);
  });

  it('after the TTL a stale entry is read again, without any notification', async () => {
    const id = await store('expiring', 'first');
    let clock = 0;
    const cache = cachedCredentials(resolver, { now: () => clock });
    expect(await cache(workspaceId, 'expiring')).toEqual(bearer('first'));
    await resealBySql(id, 'second');
    // No listener: nothing tells the cache, so within the TTL it serves what it holds.
    clock = CREDENTIAL_CACHE_TTL_MS - 1;
    expect(await cache(workspaceId, 'expiring')).toEqual(bearer('first'));
    clock = CREDENTIAL_CACHE_TTL_MS;
    expect(await cache(workspaceId, 'expiring')).toEqual(bearer('second'));
  });

  it('does not cache a miss: a credential created after a credential_missing is found by the retry', async () => {
    const cache = cachedCredentials(resolver, { now: frozen });
    expect(await cache(workspaceId, 'late')).toBeUndefined();
    // No listener either: the insert's notification is not what makes it visible.
    await store('late', 'here-now');
    expect(await cache(workspaceId, 'late')).toEqual(bearer('here-now'));
  });

  it('the trigger NOTIFYs the workspace id on insert, update (both workspaces when moved) and delete, once per transaction, and * on truncate', async () => {
    const other = (await db.insertInto('workspaces').values({ name: 'other' }).returning('id').executeTakeFirstOrThrow()).id;
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    closers.push(() => client.end());
    const got: string[] = [];
    client.on('notification', (m) => m.channel === CREDENTIAL_CHANGES_CHANNEL && got.push(m.payload!));
    await client.query(`LISTEN ${CREDENTIAL_CHANGES_CHANNEL}`);
    const next = async (n: number) => {
      await until('notifications', async () => got.length, (l) => l >= n, 2000);
      await new Promise((r) => setTimeout(r, 50));
      return got.splice(0);
    };

    const id = await store('watched', 'a');
    expect(await next(1)).toEqual([workspaceId]);
    await resealBySql(id, 'b');
    expect(await next(1)).toEqual([workspaceId]);
    await sql`update credentials set workspace_id = ${other} where id = ${id}`.execute(db);
    expect((await next(2)).sort()).toEqual([workspaceId, other].sort());
    // Many rows of one workspace in one transaction (a rotation batch): one notification.
    await store('watched-2', 'c', other);
    await next(1);
    await sql`update credentials set hints = '{}' where workspace_id = ${other}`.execute(db);
    expect(await next(1)).toEqual([other]);
    await db.deleteFrom('credentials').where('id', '=', id).execute();
    expect(await next(1)).toEqual([other]);
    // A rolled-back change notifies nobody.
    await db
      .transaction()
      .execute(async (tx) => {
        await sql`delete from credentials`.execute(tx);
        throw new Error('rollback');
      })
      .catch(() => {});
    await sql`truncate credentials`.execute(db);
    expect(await next(1)).toEqual(['*']);
  });

  it('caches nothing a lookup read before an invalidation arrived', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const slow: CredentialResolver = async () => {
      calls++;
      await gate;
      return bearer('read-before-the-change') as Awaited<ReturnType<CredentialResolver>>;
    };
    const cache = cachedCredentials(slow, { now: frozen });
    const inFlight = cache(workspaceId, 'racy');
    cache.invalidate(workspaceId);
    release();
    expect(await inFlight).toEqual(bearer('read-before-the-change'));
    expect(cache.size).toBe(0);
    await cache(workspaceId, 'racy');
    expect(calls).toBe(2);
  });

  it('holds at most maxEntries, evicting the oldest, and drops only the invalidated workspace', async () => {
    const seen: string[] = [];
    const fake: CredentialResolver = async (ws, name) => (seen.push(`${ws}/${name}`), bearer(name) as Awaited<ReturnType<CredentialResolver>>);
    const cache = cachedCredentials(fake, { now: frozen, maxEntries: 2 });
    await cache('w1', 'a');
    await cache('w2', 'b');
    await cache('w2', 'c'); // evicts w1/a
    expect(cache.size).toBe(2);
    await cache('w2', 'b');
    await cache('w2', 'c');
    expect(seen).toEqual(['w1/a', 'w2/b', 'w2/c']);
    await cache('w1', 'a'); // read again, evicting w2/b
    expect(seen).toHaveLength(4);
    cache.invalidate('w2');
    expect(cache.size).toBe(1);
    await cache('w1', 'a');
    expect(seen).toHaveLength(4);
  });

  it('drops the whole cache when the listener reconnects: changes made while it was down are not missed', async () => {
    const id = await store('across-reconnect', 'before');
    const cache = cachedCredentials(resolver, { now: frozen });
    await listening(cache);
    expect(await cache(workspaceId, 'across-reconnect')).toEqual(bearer('before'));
    const listenerPids = async () =>
      (await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database() and application_name = 'conveyor-cancel-listener'`.execute(db)).rows.map((r) => r.pid);
    const [pid] = await listenerPids();
    expect(pid).toBeDefined();
    await sql`select pg_terminate_backend(${pid}::int)`.execute(db);
    await until('old listener gone', listenerPids, (pids) => !pids.includes(pid!), 2000);
    // Nobody listens now: this change's notification is lost, and the entry stays (frozen clock).
    await resealBySql(id, 'after');
    expect(await cache(workspaceId, 'across-reconnect')).toEqual(bearer('before'));
    // The listener reconnects after a second and drops everything.
    await until('lookup after reconnect', () => cache(workspaceId, 'across-reconnect'), (v) => v?.data.token === 'after', 4000);
  });
});
