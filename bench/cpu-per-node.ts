import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort } from '../scripts/free-port.js';
import { ENTRIES, startProcess } from '../test/process.js';
import { cpuSeconds, sampleCpu } from './process-cpu.js';
import { dropScratchQueues } from './scratch-queues.js';

/**
 * `npm run bench:cpu`: where the CPU of a node execution goes, by process. Runs LEN-node chains
 * (RUNS of them, default 300 × 10) through a web process and two workers and reports the CPU
 * time each process (and PostgreSQL's and Redis's server processes) spent per node, read from
 * /proc. The machine is shared, so read it as shares, not as absolute times.
 *
 * Env: DATABASE_URL (a server to create a scratch database on; default the local one),
 * REDIS_URL (default redis://127.0.0.1:6379; QUEUE=postgres for the PostgreSQL backend),
 * BUILT=1 (web and workers from dist/, as the Procfile runs them; run `npm run build` first),
 * PROFILE_DIR (the workers write V8 CPU profiles there, for `--cpu-prof`'s view of the same load),
 * WORKER_NODE_ARGS (more node flags for the workers: `--perf-basic-prof` for `perf record`),
 * DRAIN=1 (the runs are created before the workers start, as the benchmark's drain: the web's
 * share is then not in the figures), WORKER_CONCURRENCY (20).
 */
const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const LEN = Number(process.env.LEN ?? 10);
const RUNS = Number(process.env.RUNS ?? 300);
const APP = process.env.BUILT === '1'
  ? { web: 'dist/apps/api/main.js', worker: 'dist/apps/worker/main.js', migrate: 'dist/scripts/migrate.js' }
  : ENTRIES;
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
  await startProcess(APP.migrate, env).exited;
  const port = await freePort();
  const web = startProcess(APP.web, { ...env, PORT: String(port) });
  procs.push(web);
  await web.waitFor(/web listening/);
  const headers = { authorization: `Bearer ${env.BOOTSTRAP_API_KEY}`, 'content-type': 'application/json' };
  const body = {
    name: 'chain',
    nodes: Array.from({ length: LEN }, (_, i) => ({ id: `s${i}`, type: 'noop', params: { i } })),
    edges: Array.from({ length: LEN - 1 }, (_, i) => ({ from: `s${i}`, to: `s${i + 1}` })),
  };
  await fetch(`http://127.0.0.1:${port}/v1/workflows`, { method: 'POST', headers, body: JSON.stringify(body) });

  const post = async () => {
    for (let i = 0; i < RUNS; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, RUNS - i) }, () => fetch(`http://127.0.0.1:${port}/v1/workflows/chain/runs`, { method: 'POST', headers, body: '{}' }).then((r) => r.text())));
    }
  };
  const drain = process.env.DRAIN === '1';
  if (drain) await post();

  const nodeArgs = [
    ...(process.env.PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : []),
    ...(process.env.WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ];
  const workers = [0, 1].map(() => startProcess(APP.worker, { ...env, WORKER_CONCURRENCY: process.env.WORKER_CONCURRENCY ?? '20' }, nodeArgs));
  procs.push(...workers);
  await Promise.all(workers.map((w) => w.waitFor(/worker consuming/)));
  console.log(`workers: ${workers.map((w) => w.child.pid).join(' ')}`);

  const sample = () => ({ web: cpuSeconds(web.child.pid!), ...sampleCpu(workers.map((w) => w.child.pid!)) });
  const db = new pg.Client({ connectionString: env.DATABASE_URL });
  await db.connect();
  const before = sample();
  const started = Date.now();
  if (!drain) await post();
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
    const secondsOfCpu = after[key] - before[key];
    console.log(`${key.padEnd(9)} ${((secondsOfCpu * 1000) / nodes).toFixed(2)} ms CPU per node  (${((secondsOfCpu / seconds) * 100).toFixed(0)}% of a core)`);
  }
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  await dropScratchQueues(env).catch(() => {});
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
