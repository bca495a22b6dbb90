import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/free-port.js';
import { backends, startStack, type TestStack } from './stack.js';

/**
 * The Procfile on a real runner: the app built as a PaaS builds it (`tsc -p tsconfig.build.json`),
 * the `release` line run once, then node-foreman starting web=1,worker=3,scheduler=2 from the
 * other lines, 200 runs through the web process, and Ctrl-C (SIGINT) stopping it all.
 * node-foreman takes the Procfile with `-j` (its `-f` is a forward proxy).
 */
const ROOT = path.resolve('.');
const RUNS = 200;
const FORMATION = { web: 1, worker: 3, scheduler: 2 };

const workflow = {
  name: 'procfile-check',
  nodes: [
    { id: 'a', type: 'transform', params: { value: '{{ input.n }}' } },
    { id: 'b', type: 'transform', params: { value: '{{ nodes.a.output * 2 }}' } },
    { id: 'c', type: 'transform', params: { value: '{{ nodes.a.output * 3 }}' } },
  ],
  edges: [{ from: 'a', to: 'b' }, { from: 'a', to: 'c' }],
};

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number, show: () => string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${show()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('the Procfile under node-foreman, built', () => {
  let stack: TestStack;
  let app: string;
  beforeAll(async () => {
    // The production configuration when Redis is there; PostgreSQL queues otherwise.
    stack = await startStack({ backend: backends().at(-1)!, workers: false });
    app = await mkdtemp(path.join(tmpdir(), 'conveyor-foreman-'));
    // Built into a directory of its own: a build never races another in the shared checkout's dist/.
    const build = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(app, 'dist')], { encoding: 'utf8', timeout: 180_000 });
    expect(build.status, `npm run build failed:\n${build.stdout}${build.stderr}`).toBe(0);
    await copyFile(path.join(ROOT, 'package.json'), path.join(app, 'package.json'));
    await symlink(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'));
    await symlink(path.join(ROOT, 'migrations'), path.join(app, 'migrations'));
  }, 240_000);
  afterAll(async () => {
    await stack.close();
    await rm(app, { recursive: true, force: true });
  });

  it(`runs release, then ${JSON.stringify(FORMATION)}: ${RUNS} runs spread over the workers, and SIGINT stops every process cleanly`, async () => {
    const procfile = await readFile(path.join(ROOT, 'Procfile'), 'utf8');
    const lines = procfile.split('\n').filter((l) => /^\w+:/.test(l));
    for (const l of lines) expect(l, 'Procfile lines start with exec so signals reach node').toMatch(/^\w+:\s*exec node /);
    const release = lines.find((l) => l.startsWith('release:'))!.replace(/^release:\s*/, '');
    await writeFile(path.join(app, 'Procfile.run'), `${lines.filter((l) => !l.startsWith('release:')).join('\n')}\n`);

    const port = await freePort();
    const env = { ...stack.env, PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', WORKER_HEARTBEAT_MS: '500', SHUTDOWN_GRACE_MS: '15000', WORKER_CONCURRENCY: '4' };
    const migrated = spawnSync('/bin/sh', ['-c', release], { cwd: app, env, encoding: 'utf8', timeout: 60_000 });
    expect(migrated.status, `release failed:\n${migrated.stdout}${migrated.stderr}`).toBe(0);

    const formation = Object.entries(FORMATION).map(([k, n]) => `${k}=${n}`).join(',');
    const nf: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'node_modules/foreman/nf.js'), 'start', '-j', 'Procfile.run', '-p', String(port), '--raw', formation], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    nf.stdout!.on('data', (d) => (output += d));
    nf.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => nf.on('exit', (code) => resolve(code)));
    const tail = () => output.split('\n').slice(-40).join('\n');
    const base = `http://127.0.0.1:${port}`;
    const api = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${base}${p}`, { method, headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any };
    };
    const live = () => stack.db.selectFrom('workers').selectAll().where('stopped_at', 'is', null).execute();
    try {
      await until('web ready', async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 60_000, tail);
      await until('three workers beating', async () => (await live()).length === FORMATION.worker, 60_000, tail);
      await until('two schedulers', async () => (output.match(/scheduler started/g) ?? []).length === FORMATION.scheduler, 60_000, tail);

      expect((await api('POST', '/v1/workflows', workflow)).status).toBe(201);
      const ids: string[] = [];
      for (let i = 0; i < RUNS; i += 20) {
        const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => api('POST', '/v1/workflows/procfile-check/runs', { input: { n: i + j } })));
        for (const r of batch) {
          expect(r.status, JSON.stringify(r.body)).toBe(202);
          ids.push(r.body.id);
        }
      }
      const finished = () => stack.db.selectFrom('runs').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'succeeded').executeTakeFirstOrThrow();
      await until(`${RUNS} runs succeeded`, async () => Number((await finished()).n) === RUNS, 120_000, tail);
      // Let every worker's last beat carry its final count.
      await new Promise((r) => setTimeout(r, 1200));
      const workers = await live();
      expect(new Set(workers.map((w) => w.pid)).size).toBe(FORMATION.worker);
      const taken = workers.map((w) => Number(w.jobs_taken));
      for (const n of taken) expect(n, `jobs taken per worker: ${taken.join(', ')}`).toBeGreaterThan(0);
      expect(taken.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(RUNS * workflow.nodes.length);
    } finally {
      nf.kill('SIGINT');
      const timer = setTimeout(() => nf.kill('SIGKILL'), 40_000);
      await exited;
      clearTimeout(timer);
    }

    // Every process drained and exited 0: its own "shut down cleanly", and foreman's "Exited Successfully".
    const names = Object.entries(FORMATION).flatMap(([k, n]) => Array.from({ length: n }, (_, i) => `${k}.${i + 1}`));
    expect((output.match(/shut down cleanly/g) ?? []).length, tail()).toBe(names.length);
    expect((output.match(/Exited Successfully/g) ?? []).length, tail()).toBe(names.length);
    expect(output).not.toMatch(/Exited with exit code/);
    expect(output).not.toMatch(/grace period exceeded/);
    const open = await stack.db.selectFrom('runs').select(['id', 'status']).where('status', 'not in', ['succeeded', 'failed', 'cancelled']).execute();
    expect(open).toEqual([]);
    const stillLive = await live();
    expect(stillLive, 'workers that stopped mark their row').toEqual([]);
  }, 300_000);
});
