import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDb, createPool, type Database } from './database.js';
import { migrateToLatest, migrationsDir, pendingMigrations } from './migrate.js';

/** An empty database (not the migrated template): migrations start from nothing. */
async function emptyDatabase() {
  const server = inject('pgServerUrl');
  const name = `conveyor_mig_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(server);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: server });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

function runMigrateProcess(databaseUrl: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts'], {
      env: { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: '', ENCRYPTION_KEY: randomBytes(32).toString('base64'), LOG_LEVEL: 'info' },
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('migrations', () => {
  let database: Awaited<ReturnType<typeof emptyDatabase>>;
  let db: Database;
  let pool: pg.Pool;

  beforeAll(async () => {
    database = await emptyDatabase();
    pool = createPool({ connectionString: database.url, max: 2 });
    db = createDb(pool);
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  it('reports pending migrations on an empty database, none after migrating, and is idempotent', async () => {
    expect((await pendingMigrations(db)).length).toBeGreaterThan(0);
    expect(await migrateToLatest(db)).toContain('0001_initial');
    expect(await migrateToLatest(db)).toEqual([]);
    expect(await pendingMigrations(db)).toEqual([]);
  });

  it('runs from two processes at once: each migration applied once, BullMQ schema included', async () => {
    const fresh = await emptyDatabase();
    try {
      const [a, b] = await Promise.all([runMigrateProcess(fresh.url), runMigrateProcess(fresh.url)]);
      expect(a.code, a.output).toBe(0);
      expect(b.code, b.output).toBe(0);
      const check = new pg.Client({ connectionString: fresh.url });
      await check.connect();
      const applied = await check.query('select name from kysely_migration');
      // Each file exactly once, in order, however the two processes raced.
      const files = (await readdir(migrationsDir())).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort();
      expect(applied.rows.map((r) => r.name).sort()).toEqual(files);
      const bull = await check.query(`select count(*)::int as n from information_schema.tables where table_schema = 'bullmq'`);
      expect(bull.rows[0].n).toBeGreaterThan(5);
      await check.end();
    } finally {
      await fresh.drop();
    }
  });

  it('makes illegal states unrepresentable', async () => {
    const ws = await db.insertInto('workspaces').values({ name: `ws${randomBytes(3).toString('hex')}` }).returning('id').executeTakeFirstOrThrow();
    const badName = db.insertInto('workflows').values({ workspace_id: ws.id, name: 'Bad Name!' }).execute();
    await expect(badName).rejects.toMatchObject({ code: '23514' });
    const wf = await db.insertInto('workflows').values({ workspace_id: ws.id, name: 'ok' }).returning('id').executeTakeFirstOrThrow();
    await expect(db.insertInto('workflows').values({ workspace_id: ws.id, name: 'ok' }).execute()).rejects.toMatchObject({ code: '23505' });
    await db.insertInto('workflow_versions').values({ workflow_id: wf.id, version: 1, definition: '{}' }).execute();
    const run = await db
      .insertInto('runs')
      .values({ workspace_id: ws.id, workflow_id: wf.id, version: 1, trigger_type: 'api' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await expect(db.updateTable('runs').set({ status: 'exploded' as never }).where('id', '=', run.id).execute()).rejects.toMatchObject({ code: '23514' });
    // A terminal run must say when it finished.
    await expect(db.updateTable('runs').set({ status: 'succeeded' }).where('id', '=', run.id).execute()).rejects.toMatchObject({ code: '23514' });
    await db.insertInto('node_runs').values({ run_id: run.id, node_id: 'a', type: 'noop' }).execute();
    await expect(db.insertInto('node_runs').values({ run_id: run.id, node_id: 'a', type: 'noop' }).execute()).rejects.toMatchObject({ code: '23505' });
    await expect(sql`insert into runs (workspace_id, workflow_id, version, trigger_type) values (${ws.id}, ${wf.id}, 2, 'api')`.execute(db)).rejects.toMatchObject({ code: '23503' });
  });
});
