import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { freePort } from '../scripts/free-port.js';
import { ENTRIES, startProcess } from '../test/process.js';

/**
 * `npm run bench:cpu`: where the CPU of a node execution goes, by process. Runs LEN-node chains
 * (RUNS of them, default 300 × 10) through a web process and two workers and reports the CPU
 * time each process (and PostgreSQL's and Redis's server processes) spent per node, read from
 * /proc. The machine is shared, so read it as shares, not as absolute times.
 *
 * Env: DATABASE_URL (a server to create a scratch database on; default the local one),
 * REDIS_URL (default redis://127.0.0.1:6379; QUEUE=postgres for the PostgreSQL backend).
 */
const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const LEN = Number(process.env.LEN ?? 10);
const RUNS = Number(process.env.RUNS ?? 300);
const admin = new pg.Client({ connectionString: server });
await admin.connect();
const name = `cpu_${randomBytes(3).toString('hex')}`;
await admin.query(`create database ${name}`);
const url = new URL(server);
url.pathname = `/${name}`;
const env: Record<string, string> = {
  DATABASE_URL: url.toString(),
  ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  BOOTSTRAP_API_KEY: `cvy_${randomBytes(16).toString('hex')}`,
  QUEUE_PREFIX: name,
  LOG_LEVEL: 'info',
  // DATABASE_PREPARED_STATEMENTS=false measures the engine without them.
  ...(process.env.DATABASE_PREPARED_STATEMENTS ? { DATABASE_PREPARED_STATEMENTS: process.env.DATABASE_PREPARED_STATEMENTS } : {}),
  ...(process.env.QUEUE === 'postgres' ? {} : { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }),
};
const procs = [];
try {
  await startProcess(ENTRIES.migrate, env).exited;
  const port = await freePort();
  const web = startProcess(ENTRIES.web, { ...env, PORT: String(port) });
  procs.push(web);
  await web.waitFor(/web listening/);
  const workers = [0, 1].map(() => startProcess(ENTRIES.worker, { ...env, WORKER_CONCURRENCY: '20' }));
  procs.push(...workers);
  await Promise.all(workers.map((w) => w.waitFor(/worker consuming/)));
  const headers = { authorization: `Bearer ${env.BOOTSTRAP_API_KEY}`, 'content-type': 'application/json' };
  const body = {
    name: 'chain',
    nodes: Array.from({ length: LEN }, (_, i) => ({ id: `s${i}`, type: 'noop', params: { i } })),
    edges: Array.from({ length: LEN - 1 }, (_, i) => ({ from: `s${i}`, to: `s${i + 1}` })),
  };
  await fetch(`http://127.0.0.1:${port}/v1/workflows`, { method: 'POST', headers, body: JSON.stringify(body) });

  const cpu = (pid: number) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(fields[11]) + Number(fields[12]);
    } catch {
      return 0;
    }
  };
  const pids = (cmd: string) => execSync(cmd).toString().trim().split('\n').filter(Boolean).map(Number);
  const sample = () => ({
    web: cpu(web.child.pid!),
    workers: workers.reduce((a, w) => a + cpu(w.child.pid!), 0),
    postgres: pids('pgrep -u postgres || true').reduce((a, p) => a + cpu(p), 0),
    redis: pids("pgrep -f 'redis-server' || true").reduce((a, p) => a + cpu(p), 0),
  });
  const db = new pg.Client({ connectionString: env.DATABASE_URL });
  await db.connect();
  const before = sample();
  const started = Date.now();
  for (let i = 0; i < RUNS; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, RUNS - i) }, () => fetch(`http://127.0.0.1:${port}/v1/workflows/chain/runs`, { method: 'POST', headers, body: '{}' }).then((r) => r.text())));
  }
  for (;;) {
    const { rows } = await db.query(`select count(*)::int as n from runs where status in ('succeeded', 'failed')`);
    if (rows[0].n >= RUNS) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (Date.now() - started) / 1000;
  const after = sample();
  await db.end();
  const nodes = RUNS * LEN;
  console.log(`${nodes} nodes in ${seconds.toFixed(2)} s: ${(nodes / seconds).toFixed(0)} nodes/s`);
  for (const key of Object.keys(after) as (keyof typeof after)[]) {
    const secondsOfCpu = (after[key] - before[key]) / 100; // clock ticks
    console.log(`${key.padEnd(9)} ${((secondsOfCpu * 1000) / nodes).toFixed(2)} ms CPU per node  (${((secondsOfCpu / seconds) * 100).toFixed(0)}% of a core)`);
  }
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
