import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDb, createPool } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { migrateQueueBackend } from '../lib/queue.js';
import { scratchDataParent, startEmbeddedPostgres, stopEmbeddedPostgres, type EmbeddedPostgres } from '../scripts/embedded-postgres.js';
import { freePort } from '../scripts/free-port.js';
import { ensureConsoleBuilt } from '../scripts/build-ui.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A server URL whose user may CREATE DATABASE; test files clone `templateDb` from it. */
    pgServerUrl: string;
    templateDb: string;
    /** Empty when no Redis answers: the Redis half of the backend matrix is then reported as not run. */
    redisUrl: string;
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

const TEMP_PREFIX = 'conveyor-test-pg-';

/** A test run killed before its teardown leaves its server running: stop those whose owner is gone. */
async function reapAbandonedServers() {
  for (const entry of await readdir(tmpdir())) {
    if (!entry.startsWith(TEMP_PREFIX)) continue;
    const dir = path.join(tmpdir(), entry);
    const owner = Number(await readFile(path.join(dir, 'owner.pid'), 'utf8').catch(() => '0'));
    try {
      if (owner) {
        process.kill(owner, 0);
        continue;
      }
    } catch {
      // The owner is dead: the server is abandoned.
    }
    await stopEmbeddedPostgres(path.join(dir, 'data')).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * Real PostgreSQL (TEST_DATABASE_URL, else an embedded server in a temp dir) with a template
 * database migrated once (our schema and BullMQ's), and real Redis (TEST_REDIS_URL, else
 * 127.0.0.1:6379 when it answers).
 */
export default async function setup(project: TestProject) {
  // The console's page and assets, for the web app's /ui routes and the browser tests (fast when fresh).
  await ensureConsoleBuilt((line) => console.log(`[conveyor tests] ${line}`));
  let embedded: EmbeddedPostgres | undefined;
  let dataDir: string | undefined;
  let serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    await reapAbandonedServers();
    dataDir = await scratchDataParent(TEMP_PREFIX);
    await writeFile(path.join(dataDir, 'owner.pid'), String(process.pid));
    embedded = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'data'), port: await freePort() });
    serverUrl = embedded.url;
  }
  const templateDb = `conveyor_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${templateDb}`);
  const templateUrl = withDatabase(serverUrl, templateDb);
  const pool = createPool({ connectionString: templateUrl, max: 1 });
  await migrateToLatest(createDb(pool));
  await pool.end();
  await migrateQueueBackend({ DATABASE_URL: templateUrl, REDIS_URL: undefined });

  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redisOk = await redisAnswers(redisUrl);
  if (!redisOk) console.warn(`\n[conveyor tests] no Redis at ${redisUrl}: the Redis backend half of the matrix will not run\n`);

  project.provide('pgServerUrl', serverUrl);
  project.provide('templateDb', templateDb);
  project.provide('redisUrl', redisOk ? redisUrl : '');

  return async () => {
    try {
      // Test files drop their own databases; drop any a crashed file left, then the template.
      const { rows } = await admin.query<{ datname: string }>(`select datname from pg_database where datname like $1`, [`${templateDb}%`]);
      for (const { datname } of rows.sort((a, b) => b.datname.length - a.datname.length)) {
        await admin.query(`drop database if exists ${datname} with (force)`).catch(() => {});
      }
      await admin.end();
    } finally {
      if (embedded) await embedded.stop();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    }
  };
}
