import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, runToCompletion, startStack, type TestStack } from '../../test/stack.js';

/**
 * PostgreSQL's attempt count alone decides a node's retries. A delivery the database failed
 * before anything was claimed spends no attempt anywhere: before, BullMQ counted it, and a node
 * with `retry.attempts: 1` had its only job failed while PostgreSQL still had it queued.
 */
describe.each(backends())('attempts on the %s backend', (backend) => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack({ backend });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('a claim the database refuses once is delivered again, and the node runs as its first attempt', async () => {
    // A real failure of the claim statement, once: the first time 'flaky' is about to run (a
    // sequence counts the tries, since the failure rolls back anything else the trigger writes).
    await sql`create sequence claim_tries`.execute(stack.db);
    await sql`create function fail_first_claim() returns trigger language plpgsql as $$
      begin
        if nextval('claim_tries') = 1 then
          raise exception 'the database failed this claim' using errcode = '57014';
        end if;
        return new;
      end $$`.execute(stack.db);
    await sql`create trigger fail_first_claim before update on node_runs for each row
      when (new.node_id = 'flaky' and new.status = 'running') execute function fail_first_claim()`.execute(stack.db);

    const run = await runToCompletion(stack, { name: 'flaky-claim', nodes: [{ id: 'flaky', type: 'transform', params: { value: 'done' }, retry: { attempts: 1 } }] }, undefined, 15_000);
    expect(run).toMatchObject({ status: 'succeeded', output: { flaky: 'done' } });
    expect(run.nodes[0]).toMatchObject({ status: 'succeeded', attempts: 1 });
    const { rows } = await sql<{ n: number }>`select last_value::int as n from claim_tries`.execute(stack.db);
    expect(rows[0]!.n).toBe(2);
  });
});
