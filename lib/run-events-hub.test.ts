import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, testLogger, type TestStack } from '../test/stack.js';
import { createRunEventsHub } from './run-events-hub.js';

describe('run events hub: a LISTEN connection lost and back', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack({ workers: false });
    await stack.request('POST', '/v1/workflows', { body: { name: 'gated', nodes: [{ id: 'gate', type: 'wait.signal', params: {} }] } });
  });
  afterAll(async () => {
    await stack.close();
  });

  it('delivers events committed while it was reconnecting, once it listens again', async () => {
    const hub = createRunEventsHub({ db: stack.db, databaseUrl: stack.config.DATABASE_URL, log: testLogger() });
    try {
      const { body } = await stack.request('POST', '/v1/workflows/gated/runs', { body: {} });
      const stream = await hub.subscribe(body.id, 0);
      const first = await stream.next(1_000);
      expect(first?.map((e) => e.type)).toContain('run.queued');
      expect(hub.stats().listening).toBe(true);

      await sql`select pg_terminate_backend(pid) from pg_stat_activity
                where datname = current_database() and application_name = 'conveyor-run-events'`.execute(stack.db);
      const deadline = Date.now() + 2_000;
      while (hub.stats().listening && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(hub.stats().listening).toBe(false);
      expect((await stack.request('POST', `/v1/runs/${body.id}/cancel`)).status).toBe(202);
      expect(hub.stats().listening).toBe(false); // its NOTIFY went unheard

      const later = await stream.next(5_000);
      expect(later?.map((e) => e.type)).toContain('run.cancelled');
      expect(hub.stats().listening).toBe(true);
      stream.close();
    } finally {
      await hub.close();
    }
  });
});
