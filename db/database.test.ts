import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/free-port.js';
import { createTestDatabase, type TestDatabase } from '../test/database.js';
import { createDb, createPool } from './database.js';
import { isConnectionUnavailable } from './errors.js';

describe('createPool: a refused connection is backpressure', () => {
  const suffix = randomBytes(4).toString('hex');
  // Roles are server-wide: named per file run, dropped at the end.
  const twoConnections = `conveyor_two_${suffix}`;
  const noConnections = `conveyor_none_${suffix}`;
  let database: TestDatabase;
  let admin: pg.Client;

  const urlAs = (user: string, patch: (u: URL) => void = () => {}) => {
    const u = new URL(database.url);
    u.username = user;
    u.password = '';
    patch(u);
    return u.toString();
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query(`create role ${twoConnections} login connection limit 2`);
    await admin.query(`create role ${noConnections} login connection limit 0`);
  });
  afterAll(async () => {
    await admin.query(`drop role if exists ${twoConnections}`);
    await admin.query(`drop role if exists ${noConnections}`);
    await admin.end();
    await database.drop();
  });

  it('runs 20 concurrent queries through a pool of 10 against a role allowed 2 connections: they wait, none fails', async () => {
    const pool = createPool({ connectionString: urlAs(twoConnections), max: 10, preparedStatements: true });
    const db = createDb(pool);
    try {
      // Parameterised, so each goes through the prepared-statement path too.
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => sql<{ n: number }>`select ${i}::int as n from pg_sleep(0.05)`.execute(db)),
      );
      expect(results.map((r) => r.rows[0]!.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(pool.totalCount).toBeLessThanOrEqual(2);
    } finally {
      await db.destroy();
    }
  });

  it('waits for a server that refuses connections while it restarts (ECONNREFUSED), then runs the query', async () => {
    const server = new URL(database.url);
    const port = await freePort();
    const pool = createPool({ connectionString: urlAs(server.username, (u) => { u.hostname = '127.0.0.1'; u.port = String(port); }), max: 2 });
    const sockets = new Set<Socket>();
    let proxy: Server | undefined;
    // Nothing listens on `port` until the "restart" is over.
    const back = setTimeout(() => {
      proxy = createServer((client) => {
        const upstream = connect(Number(server.port || 5432), server.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      }).listen(port, '127.0.0.1');
    }, 500);
    try {
      const started = Date.now();
      const { rows } = await pool.query<{ ok: number }>('select 1 as ok');
      expect(rows).toEqual([{ ok: 1 }]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    } finally {
      clearTimeout(back);
      await pool.end();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
    }
  });

  it('surfaces the refusal once its retry window is spent', async () => {
    const pool = createPool({ connectionString: urlAs(noConnections), max: 2, connectRetryMs: 400 });
    try {
      const started = Date.now();
      const err = await pool.query('select 1').then(() => undefined, (e: unknown) => e);
      const waited = Date.now() - started;
      expect((err as { code?: string }).code).toBe('53300');
      expect(isConnectionUnavailable(err)).toBe(true);
      // It retried (today's code failed at the first refusal), and gave up within its bound.
      expect(waited).toBeGreaterThanOrEqual(150);
      expect(waited).toBeLessThan(3_000);
    } finally {
      await pool.end();
    }
  });

  // Guards: these pass without retries too; they pin down what must never be retried.
  it('does not wait on a connection error that retrying cannot fix (a missing database)', async () => {
    const pool = createPool({ connectionString: urlAs(new URL(database.url).username, (u) => { u.pathname = `/nope_${suffix}`; }) });
    try {
      const started = Date.now();
      const err = await pool.query('select 1').then(() => undefined, (e: unknown) => e);
      expect((err as { code?: string }).code).toBe('3D000');
      expect(isConnectionUnavailable(err)).toBe(false);
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await pool.end();
    }
  });

  it('never re-runs a statement whose connection died under it', async () => {
    const pool = createPool({ connectionString: database.url, max: 2, applicationName: `victim_${suffix}` });
    try {
      const running = pool.query('select pg_sleep(5)').then(() => undefined, (e: unknown) => e);
      const deadline = Date.now() + 5_000;
      let killed = 0;
      while (killed === 0 && Date.now() < deadline) {
        const { rows } = await admin.query(`select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1 and query like 'select pg_sleep%'`, [`victim_${suffix}`]);
        killed = rows.length;
        if (killed === 0) await new Promise((r) => setTimeout(r, 20));
      }
      expect(killed).toBe(1);
      const started = Date.now();
      const err = await running;
      // Rejected at once (57P01): not sent again, which would have slept another 5 s or succeeded.
      expect(err).toBeInstanceOf(Error);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await pool.end();
    }
  });
});
