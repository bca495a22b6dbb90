import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/database.js';
import { createDb, createPool, type Database } from './database.js';
import { usePreparedStatements } from './prepared-statements.js';

describe('prepared statements', () => {
  let database: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    database = await createTestDatabase();
    // One connection, so what it has prepared is what pg_prepared_statements shows.
    db = createDb(createPool({ connectionString: database.url, max: 1, preparedStatements: true }));
    await sql`create table gadgets (id int primary key, label text)`.execute(db);
    await sql`insert into gadgets values (1, 'one'), (2, 'two')`.execute(db);
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  const prepared = async () =>
    (await sql<{ statement: string }>`select statement from pg_prepared_statements where statement like '%gadgets%'`.execute(db)).rows.map(
      (r) => r.statement,
    );

  it('parses a statement with parameters once per connection and reuses it', async () => {
    for (const id of [1, 2, 1]) {
      const row = await db.selectFrom('gadgets' as never).select(['label' as never]).where('id' as never, '=', id as never).executeTakeFirst();
      expect(row).toEqual({ label: id === 1 ? 'one' : 'two' });
    }
    const statements = await prepared();
    expect(statements.filter((s) => s.includes('"label"'))).toHaveLength(1);
  });

  it('leaves statements without parameters unprepared: a script of several statements still runs', async () => {
    await sql.raw(`update gadgets set label = 'uno' where id = 1; update gadgets set label = 'dos' where id = 2`).execute(db);
    expect((await sql<{ label: string }>`select label from gadgets order by id`.execute(db)).rows.map((r) => r.label)).toEqual(['uno', 'dos']);
    expect((await prepared()).some((s) => s.includes('update gadgets'))).toBe(false);
  });

  it('survives a schema change under it: the stale statement fails once, then is prepared afresh', async () => {
    const all = () => sql<Record<string, unknown>>`select * from gadgets where id = ${1}`.execute(db);
    expect((await all()).rows).toEqual([{ id: 1, label: 'uno' }]);
    await sql`alter table gadgets add column colour text default 'red'`.execute(db);
    await expect(all()).rejects.toMatchObject({ code: '0A000' });
    expect((await all()).rows).toEqual([{ id: 1, label: 'uno', colour: 'red' }]);
  });

  it('prepares at most maxNames distinct texts; the rest run unnamed', async () => {
    const pool = createPool({ connectionString: database.url, max: 1 });
    usePreparedStatements(pool, 1);
    const capped = createDb(pool);
    try {
      expect((await sql<{ label: string }>`select label from gadgets where id = ${1}`.execute(capped)).rows).toEqual([{ label: 'uno' }]);
      expect((await sql<{ id: number }>`select id from gadgets where label = ${'dos'}`.execute(capped)).rows).toEqual([{ id: 2 }]);
      const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(capped);
      expect(rows.map((r) => r.statement)).toEqual(['select label from gadgets where id = $1']);
    } finally {
      await capped.destroy();
    }
  });

  it('is off unless asked for', async () => {
    const plain = createDb(createPool({ connectionString: database.url, max: 1 }));
    try {
      await sql`select label from gadgets where id = ${2}`.execute(plain);
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements`.execute(plain);
      expect(rows[0]!.n).toBe(0);
    } finally {
      await plain.destroy();
    }
  });
});
