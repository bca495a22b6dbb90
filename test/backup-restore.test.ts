import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, createPool } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { freePort } from '../scripts/free-port.js';
import { ENTRIES, startProcess, type AppProcess } from './process.js';
import { startPrivateRedis, type PrivateRedis } from './redis-server.js';
import { startTargetServer, type TargetServer } from './target-server.js';

/**
 * The README's backup procedure, proven: `pg_dump -Fc` while runs are mid-flight (delays and
 * signals waiting, HTTP calls running, nodes queued), then everything lost — processes killed,
 * Redis gone — and `pg_restore` into a fresh database with an empty Redis. Every run resumes
 * from PostgreSQL alone and finishes exactly once.
 */
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function major(cmd: string): Promise<number | undefined> {
  try {
    const { stdout } = await run(cmd, ['--version']);
    return Number(/(\d+)\.\d+/.exec(stdout)?.[1]);
  } catch {
    return undefined;
  }
}

async function serverMajor(url: string): Promise<number | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>(`select current_setting('server_version_num') as v`);
    return Math.floor(Number(rows[0]!.v) / 10000);
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * pg_dump refuses a server newer than itself (the tests' embedded PostgreSQL is 18; Debian's
 * client may be 15): use the first server it can read, the tests' own or the local one.
 */
async function dumpableServer(): Promise<{ url: string } | { skip: string }> {
  const dump = await major('pg_dump');
  const restore = await major('pg_restore');
  if (!dump || !restore) return { skip: 'pg_dump/pg_restore are not installed (apt-get install postgresql-client)' };
  const candidates = [inject('pgServerUrl'), process.env.BACKUP_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'];
  for (const url of candidates) {
    const server = await serverMajor(url);
    if (server && server <= Math.min(dump, restore)) return { url };
  }
  return { skip: `no PostgreSQL server this pg_dump (${dump}) can read; set BACKUP_TEST_DATABASE_URL` };
}

const found = await dumpableServer();
if ('skip' in found) console.log(`backup-restore.test.ts: skipped, ${found.skip}`);

function databaseUrl(server: string, name: string): string {
  const u = new URL(server);
  u.pathname = `/${name}`;
  return u.toString();
}

interface Site {
  procs: AppProcess[];
  api: string;
  redis: PrivateRedis;
}

describe.skipIf('skip' in found)('backup and restore while runs are in flight', () => {
  const server = 'url' in found ? found.url : '';
  const names = { before: `conveyor_bk_${randomBytes(4).toString('hex')}`, after: '' };
  names.after = `${names.before}_restored`;
  const adminKey = `cvy_backup_${randomBytes(16).toString('hex')}`;
  const common = {
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    BOOTSTRAP_API_KEY: adminKey,
    QUEUE_PREFIX: `bk${randomBytes(4).toString('hex')}`,
    HTTP_ALLOW_HOSTS: '127.0.0.1',
    NODE_LOCK_MS: '2000',
    SHUTDOWN_GRACE_MS: '3000',
    // Two slots: four slow calls leave two running and two queued when the dump is taken.
    WORKER_CONCURRENCY: '2',
  };
  let target: TargetServer;
  let dir: string;
  const sites: Site[] = [];

  const admin = async <T>(fn: (c: pg.Client) => Promise<T>) => {
    const c = new pg.Client({ connectionString: server });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };

  async function startSite(database: string): Promise<Site> {
    const redis = await startPrivateRedis();
    const port = await freePort();
    const env = { ...common, DATABASE_URL: databaseUrl(server, database), REDIS_URL: redis.url, PORT: String(port) };
    const procs = [startProcess(ENTRIES.web, env), startProcess(ENTRIES.worker, env), startProcess(ENTRIES.scheduler, env)];
    const site = { procs, api: `http://127.0.0.1:${port}`, redis };
    sites.push(site);
    await Promise.all([procs[0]!.waitFor(/web listening/, 45_000), procs[1]!.waitFor(/worker consuming/, 45_000), procs[2]!.waitFor(/scheduler started/, 45_000)]);
    return site;
  }

  const call = async (site: Site, method: string, p: string, body?: unknown) => {
    const res = await fetch(`${site.api}${p}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    target = await startTargetServer();
    dir = await mkdtemp(path.join(tmpdir(), 'conveyor-backup-'));
    await admin((c) => c.query(`create database ${names.before}`));
    const pool = createPool({ connectionString: databaseUrl(server, names.before), max: 1 });
    await migrateToLatest(createDb(pool));
    await pool.end();
  }, 60_000);

  afterAll(async () => {
    for (const site of sites) {
      await Promise.all(site.procs.map((p) => p.stop('SIGKILL')));
      await site.redis.stop();
    }
    await target?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    await admin(async (c) => {
      for (const name of [names.before, names.after]) await c.query(`drop database if exists ${name} with (force)`);
    });
  });

  it('every run resumes from the restored database and finishes exactly once', async () => {
    const before = await startSite(names.before);
    for (const body of [
      { name: 'nap', nodes: [{ id: 'wait', type: 'delay', params: { ms: 9000 } }, { id: 'after', type: 'noop' }], edges: [{ from: 'wait', to: 'after' }] },
      { name: 'gate', nodes: [{ id: 'gate', type: 'wait.signal' }, { id: 'done', type: 'transform', params: { value: '{{ nodes.gate.output }}' } }], edges: [{ from: 'gate', to: 'done' }] },
      {
        name: 'slow',
        nodes: [
          { id: 'call', type: 'http.request', params: { method: 'GET', url: `${target.url}/slow?ms=3000&run={{ input.i }}` } },
          { id: 'then', type: 'transform', params: { value: '{{ nodes.call.output.body.slept }}' } },
        ],
        edges: [{ from: 'call', to: 'then' }],
      },
    ]) {
      const res = await call(before, 'POST', '/v1/workflows', body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    const start = async (name: string, input: unknown = {}) => {
      const res = await call(before, 'POST', `/v1/workflows/${name}/runs`, { input });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body.id as string;
    };
    const naps = [await start('nap'), await start('nap')];
    const gates = [await start('gate'), await start('gate')];
    const slows = [];
    for (let i = 0; i < 4; i += 1) slows.push(await start('slow', { i }));

    // Mid-flight: both delays and both signals waiting, two calls running, two queued behind them.
    const db = databaseUrl(server, names.before);
    const statuses = async () =>
      admin(async () => {
        const c = new pg.Client({ connectionString: db });
        await c.connect();
        try {
          return (await c.query<{ run_id: string; node_id: string; status: string; wake_at: Date | null }>(`select run_id, node_id, status, wake_at from node_runs`)).rows;
        } finally {
          await c.end();
        }
      });
    let rows = await statuses();
    for (let i = 0; i < 200; i += 1) {
      const waiting = rows.filter((r) => r.status === 'waiting').length;
      const running = rows.filter((r) => r.node_id === 'call' && r.status === 'running').length;
      if (waiting === 4 && running === 2) break;
      await sleep(50);
      rows = await statuses();
    }
    const snapshot = Object.fromEntries(rows.map((r) => [`${r.run_id}/${r.node_id}`, r]));
    expect(naps.map((id) => snapshot[`${id}/wait`]?.status)).toEqual(['waiting', 'waiting']);
    expect(gates.map((id) => snapshot[`${id}/gate`]?.status)).toEqual(['waiting', 'waiting']);
    expect(slows.map((id) => snapshot[`${id}/call`]?.status).sort()).toEqual(['queued', 'queued', 'running', 'running']);
    const wakeAt = naps.map((id) => snapshot[`${id}/wait`]!.wake_at!.getTime());

    // The backup, taken live, exactly as the README says.
    const file = path.join(dir, 'conveyor.dump');
    await run('pg_dump', ['--format=custom', '--no-owner', '--file', file, db]);

    // The site is lost: every process and the queue's whole Redis.
    await Promise.all(before.procs.map((p) => p.stop('SIGKILL')));
    await before.redis.stop();

    await admin((c) => c.query(`create database ${names.after}`));
    await run('pg_restore', ['--no-owner', '--exit-on-error', '--dbname', databaseUrl(server, names.after), file]);
    const restoredAt = Date.now();
    const after = await startSite(names.after);

    // Waiting signals still accept their signal, once.
    for (const [i, id] of gates.entries()) {
      const res = await call(after, 'POST', `/v1/runs/${id}/nodes/gate/signal`, { payload: { approved: i } });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect((await call(after, 'POST', `/v1/runs/${id}/nodes/gate/signal`, { payload: { approved: -1 } })).status).toBe(409);
    }

    const all = [...naps, ...gates, ...slows];
    const finished = new Map<string, any>();
    const deadline = Date.now() + 60_000;
    while (finished.size < all.length && Date.now() < deadline) {
      for (const id of all) {
        if (finished.has(id)) continue;
        const res = await call(after, 'GET', `/v1/runs/${id}`);
        if (['succeeded', 'failed', 'cancelled'].includes(res.body.status)) finished.set(id, res.body);
      }
      await sleep(250);
    }
    const unfinished = all.filter((id) => !finished.has(id));
    expect(unfinished, `still running after 60 s:\n${after.procs.flatMap((p) => p.lines.slice(-5)).join('\n')}`).toEqual([]);
    for (const id of all) expect(finished.get(id).status, id).toBe('succeeded');

    const node = (id: string, nodeId: string) => finished.get(id).nodes.find((n: { id: string }) => n.id === nodeId);
    expect(gates.map((id) => node(id, 'done').output)).toEqual([{ approved: 0 }, { approved: 1 }]);
    expect(slows.map((id) => node(id, 'then').output)).toEqual([3000, 3000, 3000, 3000]);
    // Delays keep their remaining time: none woke before its original time, nor restarted from zero.
    for (const [i, id] of naps.entries()) {
      const woke = new Date(node(id, 'wait').finishedAt).getTime();
      expect(woke).toBeGreaterThanOrEqual(wakeAt[i]! - 5);
      expect(woke).toBeLessThan(Math.max(wakeAt[i]!, restoredAt) + 15_000);
    }
    // Exactly once: one success recorded per node in the restored database.
    const restored = new pg.Client({ connectionString: databaseUrl(server, names.after) });
    await restored.connect();
    try {
      const { rows: twice } = await restored.query(
        `select run_id, node_id, count(*)::int as n from run_events where type = 'node.succeeded' group by 1, 2 having count(*) <> 1`,
      );
      expect(twice).toEqual([]);
      const { rows: counted } = await restored.query<{ n: number }>(`select count(distinct (run_id, node_id))::int as n from run_events where type = 'node.succeeded'`);
      expect(counted[0]!.n).toBe(2 * all.length);
    } finally {
      await restored.end();
    }
  }, 150_000);
});
