import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test/redis-server.js';
import { startStack, type TestStack } from '../../test/stack.js';

describe('/readyz names the failing dependency', () => {
  let redis: PrivateRedis;
  let stack: TestStack;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    stack = await startStack({ workers: false, env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    await redis.start().catch(() => {});
    await stack.close();
    await redis.stop();
  });

  it('turns 503 when Redis is killed and 200 when it is back', async () => {
    expect((await stack.request('GET', '/readyz', { key: null })).status).toBe(200);
    await redis.stop();
    const down = await stack.request('GET', '/readyz', { key: null });
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('not_ready');
    expect(down.body.error.details).toEqual([expect.objectContaining({ dependency: 'queue (redis)' })]);
    await redis.start();
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await stack.request('GET', '/readyz', { key: null })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
  });

  it('turns 503 naming migrations when the database is not migrated', async () => {
    const server = inject('pgServerUrl');
    const name = `conveyor_unmigrated_${randomBytes(3).toString('hex')}`;
    const admin = new pg.Client({ connectionString: server });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const u = new URL(server);
    u.pathname = `/${name}`;
    const bare = await startStackOn(u.toString());
    try {
      const res = await bare.app.request('/readyz');
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { details: { dependency: string; message: string }[] } };
      const deps = body.error.details.map((d) => d.dependency);
      expect(deps).toContain('migrations');
      expect(deps).toContain('queue (postgres)');
    } finally {
      await bare.close();
      await admin.query(`drop database ${name} with (force)`);
      await admin.end();
    }
  });
});

/** The app over a database nobody migrated: no bootstrap key, no workers. */
async function startStackOn(databaseUrl: string) {
  const { createApp } = await import('../../apps/api/app.js');
  const { createDb, createPool } = await import('../../db/database.js');
  const { loadConfig } = await import('../../lib/config.js');
  const { engineDeps } = await import('../../lib/engine/engine-deps.js');
  const { allQueueNames } = await import('../../lib/engine/queues.js');
  const { createQueueBackend } = await import('../../lib/queue.js');
  const { testLogger } = await import('../../test/stack.js');
  const config = loadConfig({ DATABASE_URL: databaseUrl, ENCRYPTION_KEY: randomBytes(32).toString('base64') });
  const log = testLogger();
  const pool = createPool({ connectionString: databaseUrl, max: 2 });
  const db = createDb(pool);
  const queues = createQueueBackend(config, log);
  const engine = engineDeps({ db, queues, config, log });
  const app = createApp({ db, queues, config, log, engine, queueNames: allQueueNames(engine.registry) });
  return { app, close: async () => { await queues.close(); await db.destroy(); } };
}
