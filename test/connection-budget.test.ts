import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../apps/api/app.js';
import { startConsumers } from '../apps/worker/consumers.js';
import { createDb, createPool, type Database } from '../db/database.js';
import { engineDeps } from '../lib/engine/engine-deps.js';
import type { JobWorker } from '../lib/queue.js';
import { startStack, type TestStack } from './stack.js';

/**
 * The web process under a connection budget: a PostgreSQL role with CONNECTION LIMIT stands in
 * for a server out of connections ("too many connections for role" is SQLSTATE 53300, the same
 * refusal as max_connections).
 */
describe('connection budget: refusal is backpressure, never a 500', () => {
  const suffix = randomBytes(4).toString('hex');
  const limited = `conveyor_web2_${suffix}`;
  const refused = `conveyor_web0_${suffix}`;
  const workerRole = `conveyor_wk3_${suffix}`;
  let stack: TestStack;
  let admin: pg.Client;
  const dbs: Database[] = [];
  const workers: JobWorker[] = [];

  const engineAs = (user: string, connectRetryMs?: number) => {
    const u = new URL(stack.config.DATABASE_URL);
    u.username = user;
    u.password = '';
    const db = createDb(createPool({ connectionString: u.toString(), max: 10, connectRetryMs }));
    dbs.push(db);
    return engineDeps({ db, queues: stack.queues, config: stack.config, log: stack.log });
  };
  const appAs = (user: string, connectRetryMs?: number) => {
    const engine = engineAs(user, connectRetryMs);
    return createApp({ db: engine.db, queues: stack.queues, config: stack.config, log: stack.log, engine, queueNames: [] });
  };
  const enqueue = (app: ReturnType<typeof createApp>) =>
    app.request('/v1/workflows/budget/runs', {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input: { n: 1 } }),
    });

  beforeAll(async () => {
    stack = await startStack({ workers: false });
    admin = new pg.Client({ connectionString: stack.config.DATABASE_URL });
    await admin.connect();
    await admin.query(`create role ${limited} login connection limit 2`);
    await admin.query(`grant all on all tables in schema public to ${limited}`);
    await admin.query(`grant all on all sequences in schema public to ${limited}`);
    await admin.query(`create role ${refused} login connection limit 0`);
    await admin.query(`create role ${workerRole} login connection limit 3`);
    await admin.query(`grant all on all tables in schema public to ${workerRole}`);
    await admin.query(`grant all on all sequences in schema public to ${workerRole}`);
    const created = await stack.request('POST', '/v1/workflows', { body: { name: 'budget', nodes: [{ id: 'a', type: 'noop' }] } });
    expect(created.status).toBeLessThan(300);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close(true)));
    await Promise.all(dbs.map((db) => db.destroy()));
    // Grants are objects of this database: revoked before the role can go.
    await admin.query(`drop owned by ${limited}`);
    await admin.query(`drop role ${limited}`);
    await admin.query(`drop role ${refused}`);
    await admin.query(`drop owned by ${workerRole}`);
    await admin.query(`drop role ${workerRole}`);
    await admin.end();
    await stack.close();
  });

  it('enqueues 20 concurrent runs through a web pool of 10 on a role allowed 2 connections: every one 202', async () => {
    const app = appAs(limited);
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await enqueue(app)).status));
    expect(statuses).toEqual(Array(20).fill(202));
  });

  it('answers 503 database_unavailable with Retry-After when the database keeps refusing connections', async () => {
    const app = appAs(refused, 300);
    const res = await enqueue(app);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await res.json()).toEqual({ error: { code: 'database_unavailable', message: expect.stringContaining('Retry') } });
  });

  it('drains runs with a worker at concurrency 50 on a pool of 10 against a role allowed 3 connections: no node fails or retries', async () => {
    const chain = { name: 'budget-chain', nodes: ['a', 'b', 'c'].map((id) => ({ id, type: 'noop' })), edges: [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }] };
    expect((await stack.request('POST', '/v1/workflows', { body: chain })).status).toBe(201);
    workers.push(...startConsumers(engineAs(workerRole), { concurrency: 50 }));
    const runs = 30;
    for (let i = 0; i < runs; i++) expect((await stack.request('POST', '/v1/workflows/budget-chain/runs', { body: {} })).status).toBe(202);
    const deadline = Date.now() + 25_000;
    let finished: { status: string }[] = [];
    while (Date.now() < deadline) {
      finished = await stack.db.selectFrom('runs').innerJoin('workflows', 'workflows.id', 'runs.workflow_id').select('runs.status').where('workflows.name', '=', 'budget-chain').where('runs.finished_at', 'is not', null).execute();
      if (finished.length === runs) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(finished.map((r) => r.status)).toEqual(Array(runs).fill('succeeded'));
    const attempts = await stack.db.selectFrom('node_runs').innerJoin('runs', 'runs.id', 'node_runs.run_id').innerJoin('workflows', 'workflows.id', 'runs.workflow_id').select((eb) => eb.fn.max('node_runs.attempts').as('most')).where('workflows.name', '=', 'budget-chain').executeTakeFirstOrThrow();
    expect(Number(attempts.most)).toBe(1);
  });
});
