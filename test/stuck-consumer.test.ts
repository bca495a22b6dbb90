import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeNode } from '../lib/engine/execute-node.js';
import type { NodeJob } from '../lib/jobs.js';
import { startHeartbeat } from '../lib/workers/heartbeat.js';
import { ENTRIES, startProcess, type AppProcess } from './process.js';
import { backends, startStack, waitForRun, type TestStack } from './stack.js';

const HEARTBEAT_MS = 500;
const STUCK_MS = 3_000;
const env = { WORKER_HEARTBEAT_MS: String(HEARTBEAT_MS), CONSUMER_STUCK_MS: String(STUCK_MS), SHUTDOWN_GRACE_MS: '5000' };

const workflow = { name: 'chore', nodes: [{ id: 'a', type: 'transform', params: { value: '{{ input.n }}' } }] };

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, show?: () => Promise<unknown>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${show ? `: ${JSON.stringify(await show())}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(backends())('stuck consumers (%s backend)', (backend) => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ backend, workers: false, env });
    expect((await stack.request('POST', '/v1/workflows', { body: workflow })).status).toBe(201);
  });
  afterAll(() => stack.close());

  const system = async () => {
    const res = await stack.request('GET', '/v1/system');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };

  it('reports a SIGSTOPped worker within 60 s while jobs wait, one of two schedulers logs it once, and SIGCONT recovers', async () => {
    const worker = startProcess(ENTRIES.worker, { ...stack.env, ...env });
    const schedulers = [startProcess(ENTRIES.scheduler, { ...stack.env, ...env }), startProcess(ENTRIES.scheduler, { ...stack.env, ...env })];
    const procs: AppProcess[] = [worker, ...schedulers];
    const logged = (text: string) => schedulers.flatMap((p) => p.lines).filter((l) => l.includes(text) && l.includes(workerId));
    let workerId = '';
    try {
      workerId = JSON.parse(await worker.waitFor(/worker consuming/)).workerId as string;
      for (const scheduler of schedulers) await scheduler.waitFor(/scheduler started/);
      const seen = await until('worker listed', async () => (await system()).workers.find((w: { id: string }) => w.id === workerId), 15_000);
      expect(seen).toMatchObject({ pid: worker.child.pid, status: 'ok', concurrency: 10, queues: expect.arrayContaining(['nodes', 'control']), inFlight: 0 });
      const first = await stack.request('POST', '/v1/workflows/chore/runs', { body: { input: { n: 0 } } });
      expect((await waitForRun(stack, first.body.id)).status).toBe('succeeded');

      worker.child.kill('SIGSTOP');
      const stoppedAt = Date.now();
      const waiting = [];
      for (let n = 1; n <= 5; n++) waiting.push((await stack.request('POST', '/v1/workflows/chore/runs', { body: { input: { n } } })).body.id as string);
      const stuck = await until('stuck worker reported', async () => (await system()).stuck.find((s: { id: string }) => s.id === workerId), 60_000);
      expect(Date.now() - stoppedAt).toBeLessThan(60_000);
      expect(stuck).toMatchObject({ reason: 'no_heartbeat', pid: worker.child.pid, message: expect.stringContaining('no heartbeat') });
      expect((await system()).queues.find((q: { name: string }) => q.name === 'nodes')).toMatchObject({ name: 'nodes' });
      await until('stuck worker logged', async () => (logged('worker consumer stuck').length > 0 ? true : undefined), 20_000);
      // Still stuck while both schedulers check again (each checks every 2 heartbeats).
      await new Promise((r) => setTimeout(r, 4 * HEARTBEAT_MS));

      worker.child.kill('SIGCONT');
      for (const id of waiting) expect((await waitForRun(stack, id, 30_000)).status).toBe('succeeded');
      const healthy = await until('worker healthy again', async () => {
        const s = await system();
        const w = s.workers.find((x: { id: string }) => x.id === workerId);
        return w?.status === 'ok' && s.stuck.length === 0 && w.jobsTaken >= 6 ? w : undefined;
      }, 20_000, system);
      expect(healthy.jobsTaken).toBeGreaterThanOrEqual(6);
      expect(healthy.lastJobFinishedAt).toEqual(expect.any(String));
      await until('recovery logged', async () => (logged('worker consumer recovered').length > 0 ? true : undefined), 20_000);
      // Both schedulers watched the whole time; each change was logged once.
      await new Promise((r) => setTimeout(r, 4 * HEARTBEAT_MS));
      expect(logged('worker consumer stuck')).toHaveLength(1);
      expect(logged('worker consumer recovered')).toHaveLength(1);
    } finally {
      worker.child.kill('SIGCONT');
      for (const p of procs) {
        const { code } = await p.stop('SIGTERM');
        expect(code, p.lines.slice(-10).join('\n')).toBe(0);
      }
    }
    // A worker that drained and stopped is not stuck, and no longer listed.
    const after = await system();
    expect(after.workers.find((w: { id: string }) => w.id === JSON.parse(worker.lines.find((l) => l.includes('worker consuming'))!).workerId)).toBeUndefined();
    expect(after.stuck).toEqual([]);
  }, 150_000);

  it('reports a worker that beats but takes no job while its queue has jobs ready (a dead queue connection)', async () => {
    // A consumer whose fetch loop is not running: the process, and its heartbeat, live on.
    const wedged = stack.queues.worker('nodes', (job, _token, signal) => executeNode(stack.engine, job.data as NodeJob, signal ?? new AbortController().signal), {
      concurrency: 2,
      autorun: false,
    });
    const heartbeat = startHeartbeat({ db: stack.db, log: stack.log, workers: [wedged], concurrency: 2, intervalMs: HEARTBEAT_MS, inFlight: () => stack.engine.aborts.inFlight });
    try {
      const run = await stack.request('POST', '/v1/workflows/chore/runs', { body: { input: { n: 11 } } });
      const stuck = await until('not-consuming worker reported', async () => (await system()).stuck.find((s: { id: string }) => s.id === heartbeat.id), 30_000, system);
      expect(stuck).toMatchObject({ reason: 'not_consuming', message: expect.stringMatching(/took no job for \d+ s .*\(nodes: 1 ready\)/) });
      expect((await system()).workers.find((w: { id: string }) => w.id === heartbeat.id)).toMatchObject({ status: 'stuck', jobsTaken: 0 });
      void wedged.run();
      expect((await waitForRun(stack, run.body.id)).status).toBe('succeeded');
      await until('recovered', async () => ((await system()).stuck.length === 0 ? true : undefined), 15_000, system);
    } finally {
      await heartbeat.stop();
      await wedged.close();
    }
  }, 90_000);
});
