import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetServer, type TargetServer } from '../../test/target-server.js';
import { startStack, testLogger, waitForRun, type TestStack } from '../../test/stack.js';
import { RunAborts } from './aborts.js';
import { listenForCancellations } from './cancel-listener.js';

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A cancel committed while the cancel listener's connection is down still reaches the node. */
describe('a cancel sent while the cancel listener reconnects', () => {
  let stack: TestStack;
  let target: TargetServer;

  beforeAll(async () => {
    target = await startTargetServer();
    stack = await startStack({ backend: 'redis', env: { HTTP_ALLOW_HOSTS: '127.0.0.1' } });
  });
  afterAll(async () => {
    await stack.close();
    await target.close();
  });

  const listenerPids = async () => {
    const { rows } = await sql<{ pid: number }>`
      select pid from pg_stat_activity where datname = current_database() and application_name = 'conveyor-cancel-listener'`.execute(stack.db);
    return rows.map((r) => r.pid);
  };

  it('is caught up after the reconnect: the node is aborted, not left to its heartbeat', async () => {
    // Only the catch-up can deliver it here: a listener of our own, down for ~1.5 s around the cancel.
    await stack.request('POST', '/v1/workflows', { body: { name: 'gap', nodes: [{ id: 'a', type: 'http.request', params: { url: `${target.url}/slow?ms=20000&tag=gap` } }] } });
    for (const w of stack.workers.splice(0)) await w.close();
    const { body } = await stack.request('POST', '/v1/workflows/gap/runs', { body: {} });
    const aborts = new RunAborts();
    const inFlight = aborts.track(body.id);
    const ours = listenForCancellations(stack.config.DATABASE_URL, aborts, testLogger(), { db: stack.db, backoffMs: 1_500 });
    try {
      await ours.ready;
      await sql`select pg_terminate_backend(${ours.listener.pid()!})`.execute(stack.db);
      await until('the drop to be noticed', () => !ours.listener.listening(), 2_000);
      expect((await stack.request('POST', `/v1/runs/${body.id}/cancel`)).status).toBe(202);
      await new Promise((r) => setTimeout(r, 200));
      expect(ours.listener.listening()).toBe(false);
      expect(inFlight.signal.aborted).toBe(false); // the NOTIFY went unheard
      await until('the abort after the reconnect', () => inFlight.signal.aborted, 5_000);
      expect(ours.listener.listening()).toBe(true);
      expect((inFlight.signal.reason as Error).message).toBe('run cancelled');
    } finally {
      inFlight.release();
      await ours.close();
    }
  });

  it('a running http.request is aborted within seconds when its backend was terminated just before the cancel', async () => {
    stack.startWorkers();
    await stack.request('POST', '/v1/workflows', { body: { name: 'gap-live', nodes: [{ id: 'slow', type: 'http.request', params: { url: `${target.url}/slow?ms=20000&tag=live` } }] } });
    const { body } = await stack.request('POST', '/v1/workflows/gap-live/runs', { body: {} });
    await until('the slow request', () => target.requests.some((r) => r.path.includes('tag=live')));
    const [pid] = await listenerPids();
    expect(pid).toBeTypeOf('number');
    await sql`select pg_terminate_backend(${pid!})`.execute(stack.db);
    await until('the listener to be gone', async () => (await listenerPids()).length === 0, 2_000);
    const cancelledAt = Date.now();
    expect((await stack.request('POST', `/v1/runs/${body.id}/cancel`)).status).toBe(202);
    // The cancel committed (and NOTIFYed) while nobody listened: the reconnect backs off ~250 ms.
    expect(await listenerPids()).toEqual([]);
    const request = target.requests.find((r) => r.path.includes('tag=live'))!;
    // The node's heartbeat would notice after NODE_LOCK_MS / 3 (10 s); the catch-up does in about one backoff.
    await until('the server to see the connection aborted', () => request.aborted === true, 3_000);
    expect(Date.now() - cancelledAt).toBeLessThan(3_000);
    expect(stack.engine.aborts.inFlight).toBe(0);
    const run = await waitForRun(stack, body.id);
    expect(run.status).toBe('cancelled');
    expect((await listenerPids()).length).toBe(1);
  });
});
