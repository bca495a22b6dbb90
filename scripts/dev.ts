import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { prettyFactory } from 'pino-pretty';
import { createDb, createPool } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { migrateQueueBackend } from '../lib/queue.js';
import { embeddedClusterDir, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { freePort } from './free-port.js';
import { ensureConsoleBuilt } from './build-ui.js';
import { DEMO_WORKFLOW, seedDemo } from './seed-demo.js';

/**
 * `npm start`: the whole system on a machine with only Node. Embedded PostgreSQL under .data/
 * when DATABASE_URL is unset, the PostgreSQL queue backend when REDIS_URL is unset, migrations,
 * then web + worker + scheduler as child processes with prefixed, readable logs.
 * Ctrl-C (or SIGTERM) stops the children first, then the database: nothing is orphaned.
 */
const DATA = path.resolve(process.env.CONVEYOR_DATA_DIR ?? '.data');
const PROCESSES = ['web', 'worker', 'scheduler'] as const;
const ENTRY: Record<(typeof PROCESSES)[number], string> = {
  web: 'apps/api/main.ts',
  worker: 'apps/worker/main.ts',
  scheduler: 'apps/scheduler/main.ts',
};
/** The log line each process writes once it serves (web), consumes (worker) or fires (scheduler). */
const READY_LINE: Record<(typeof PROCESSES)[number], RegExp> = {
  web: /"msg":"web listening"/,
  worker: /"msg":"worker consuming"/,
  scheduler: /"msg":"scheduler started/,
};
const COLORS: Record<string, string> = { web: '\x1b[36m', worker: '\x1b[35m', scheduler: '\x1b[33m', dev: '\x1b[32m' };
const say = (who: string, line: string) => process.stdout.write(`${COLORS[who] ?? ''}${who.padEnd(9)}\x1b[0m | ${line}\n`);

/** A secret generated on first start and kept in .data/, so restarts reuse it. */
async function kept(file: string, make: () => string): Promise<string> {
  const p = path.join(DATA, file);
  if (existsSync(p)) return (await readFile(p, 'utf8')).trim();
  const value = make();
  await writeFile(p, `${value}\n`, { mode: 0o600 });
  return value;
}

async function main() {
  await mkdir(DATA, { recursive: true });
  let embedded: EmbeddedPostgres | undefined;
  const env: Record<string, string> = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  if (!env.DATABASE_URL) {
    const cluster = await embeddedClusterDir(DATA);
    embedded = await startEmbeddedPostgres({ dataDir: cluster.dir, port: await freePort(), log: (l) => say('dev', l) });
    env.DATABASE_URL = embedded.url;
    say('dev', `embedded PostgreSQL on port ${embedded.port} (data in ${cluster.dir})`);
    if (cluster.pointer) say('dev', `the postgres user cannot enter ${DATA}: its cluster lives in ${cluster.dir} (recorded in ${cluster.pointer})`);
  }
  env.ENCRYPTION_KEY ||= await kept('encryption.key', () => randomBytes(32).toString('base64'));
  env.BOOTSTRAP_API_KEY ||= await kept('admin.key', () => `cvy_${randomBytes(32).toString('base64url')}`);
  env.PORT ||= '3000';
  // The demo workflow calls Conveyor's own /healthz: let the SSRF guard through for localhost only.
  env.HTTP_ALLOW_HOSTS ||= 'localhost,127.0.0.1';

  const pool = createPool({ connectionString: env.DATABASE_URL, max: 1 });
  await migrateToLatest(createDb(pool));
  await pool.end();
  await migrateQueueBackend({ DATABASE_URL: env.DATABASE_URL, REDIS_URL: env.REDIS_URL || undefined });
  say('dev', `migrations applied; queue backend: ${env.REDIS_URL ? 'redis' : 'postgres'}`);
  await ensureConsoleBuilt((line) => say('dev', line));

  const children = new Map<string, ChildProcess>();
  // "Running" is said once every process is up (its handlers installed, so a Ctrl-C drains it).
  const started = new Map<string, () => void>();
  const allStarted = Promise.all(PROCESSES.map((name) => new Promise<void>((resolve) => started.set(name, resolve))));
  let stopping = false;
  const pretty = prettyFactory({ colorize: process.stdout.isTTY, ignore: 'pid,hostname,process', translateTime: 'HH:MM:ss.l', singleLine: true });
  for (const name of PROCESSES) {
    // Own process group: a terminal's Ctrl-C reaches only us, and we stop the children in order.
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY[name]], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.set(name, child);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        if (READY_LINE[name].test(line)) started.get(name)?.();
        const formatted = line.startsWith('{') ? pretty(line).trimEnd() : line;
        say(name, formatted);
      });
    }
    // 'close', not 'exit': it fires after the child's output is fully read, so no last line is lost.
    child.on('close', (code, signal) => {
      children.delete(name);
      if (!stopping) {
        say('dev', `${name} exited (${signal ?? code}); stopping everything`);
        void stop(1);
      } else if (children.size === 0) {
        void finish();
      }
    });
  }

  let exitCode = 0;
  const finish = async () => {
    if (embedded) await embedded.stop();
    say('dev', 'stopped');
    process.exit(exitCode);
  };
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    say('dev', 'stopping web, worker and scheduler...');
    for (const child of children.values()) child.kill('SIGTERM');
    if (children.size === 0) await finish();
    // Children drain within SHUTDOWN_GRACE_MS; past that, nothing may be left behind.
    setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL');
    }, Number(env.SHUTDOWN_GRACE_MS ?? 25_000) + 2_000).unref();
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  await waitForReady(`http://127.0.0.1:${env.PORT}/readyz`);
  await bounded(allStarted, 60_000, () => say('dev', 'not every process said it started within 60 s: see the logs above'));
  const base = `http://localhost:${env.PORT}`;
  const seeded = await seedDemo(base, env.BOOTSTRAP_API_KEY).catch((err: Error) => {
    say('dev', `could not seed the demo workflow: ${err.message}`);
    return false;
  });
  if (seeded) say('dev', `seeded the example workflow "${DEMO_WORKFLOW}" (fan-out, a condition, an http.request to /healthz)`);
  say('dev', '');
  say('dev', `Conveyor is running: ${base}`);
  say('dev', `  Console      ${base}/ui/   (sign in with the admin key below)`);
  say('dev', `  API docs     ${base}/docs`);
  say('dev', `  Bull Board   ${base}/admin/queues   (any user name, the admin key as password)`);
  say('dev', `  Admin key    ${env.BOOTSTRAP_API_KEY}`);
  const keyFile = path.relative(process.cwd(), path.join(DATA, 'admin.key'));
  say('dev', `  Try: curl -H "Authorization: Bearer $(cat ${keyFile})" -H 'content-type: application/json' -d '{"input":{"name":"you"}}' ${base}/v1/workflows/${DEMO_WORKFLOW}/runs`);
  say('dev', `   or: CONVEYOR_URL=${base} CONVEYOR_API_KEY=$(cat ${keyFile}) npx conveyor run ${DEMO_WORKFLOW} --input '{"name":"you"}' --follow`);
  say('dev', '');
}

async function bounded(promise: Promise<unknown>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(() => resolve(onTimeout()), ms)));
  await Promise.race([promise, late]);
  clearTimeout(timer);
}

async function waitForReady(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  say('dev', `web did not become ready within 60 s: see its log above (${url})`);
}

main().catch((err) => {
  say('dev', `failed to start: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
