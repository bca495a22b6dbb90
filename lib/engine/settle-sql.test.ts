import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createPool, type Database } from '../../db/database.js';
import { recordNodeOutcome } from '../../db/settle.js';
import type { NodeStatus } from '../../db/types.js';
import { ensureDefaultWorkspace } from '../../db/workspaces.js';
import { insertWorkflow } from '../../db/workflows.js';
import { createTestDatabase, type TestDatabase } from '../../test/database.js';
import { buildDag } from '../workflows/dag.js';
import { isTerminal, runOutcome, settle } from './settle.js';

/**
 * conveyor_record_outcome (SQL, the hot path) must follow lib/engine/settle.ts (TypeScript,
 * the reference) exactly: random DAGs, random outcomes, both driven step by step and compared
 * after every step. Likewise conveyor_dag against buildDag.
 */
const dagArb = fc.integer({ min: 1, max: 9 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    // Lower to higher index keeps every graph acyclic; repeats are kept on purpose.
    edges: n < 2 ? fc.constant([] as [number, number][]) : fc.array(fc.tuple(fc.nat(n - 2), fc.nat(n - 2)).map(([a, d]) => [a, Math.min(n - 1, a + 1 + d)] as [number, number]), { maxLength: 24 }),
    // 'child': succeeded, recorded as a child run's end completing a waiting workflow.run node.
    // 'cancelled': the node is cancelled (as a cancel leaves it) and its successors wait on it.
    outcomes: fc.array(fc.constantFrom<Outcome>('succeeded', 'failed', 'skipped', 'child', 'cancelled'), { minLength: n, maxLength: n }),
    // Which ready node finishes next, at each step: completion order varies.
    picks: fc.array(fc.nat(), { minLength: n, maxLength: n }),
  }),
);

type Outcome = 'succeeded' | 'failed' | 'skipped' | 'child' | 'cancelled';

describe('the SQL settle follows the TypeScript rules', () => {
  let database: TestDatabase;
  let pool: ReturnType<typeof createPool>;
  let db: Database;
  let workspaceId: string;
  let seq = 0;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = createPool({ connectionString: database.url, max: 4 });
    db = createDb(pool);
    workspaceId = (await ensureDefaultWorkspace(db)).id;
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  it('conveyor_dag builds the graph buildDag builds (repeated edges, unknown endpoints)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.array(fc.tuple(fc.nat(9), fc.nat(9)), { maxLength: 20 }), async (n, pairs) => {
        const ids = Array.from({ length: n }, (_, i) => `n${i}`);
        const edges = pairs.map(([a, b]) => ({ from: `n${a}`, to: `n${b}` }));
        const def = { nodes: ids.map((id) => ({ id })), edges };
        const { rows } = await sql<{ dag: any }>`select conveyor_dag(${JSON.stringify(def)}::jsonb) as dag`.execute(db);
        const ts = buildDag(ids, edges);
        const dag = rows[0]!.dag;
        expect(dag.nodes).toEqual(ids);
        expect(dag.sinks).toEqual(ts.sinks);
        for (const id of ids) {
          expect(dag.preds[id]).toEqual(ts.preds.get(id));
          expect(dag.succs[id]).toEqual(ts.succs.get(id));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('records the same statuses, events and run end as settle() and runOutcome()', async () => {
    await fc.assert(
      fc.asyncProperty(dagArb, async ({ n, edges, outcomes, picks }) => {
        const ids = Array.from({ length: n }, (_, i) => `n${i}`);
        const edgeList = edges.map(([a, b]) => ({ from: `n${a}`, to: `n${b}` }));
        const dag = buildDag(ids, edgeList);
        const definition = { name: `p${++seq}`, nodes: ids.map((id) => ({ id, type: 'noop', params: {} })), edges: edgeList };
        const wf = await insertWorkflow(db, workspaceId, { name: definition.name }, definition, null);
        const run = await db
          .insertInto('runs')
          .values({ workspace_id: workspaceId, workflow_id: wf.id, version: 1, status: 'running', started_at: new Date(), trigger_type: 'api' })
          .returning('id')
          .executeTakeFirstOrThrow();
        const state = new Map<string, NodeStatus>(ids.map((id) => [id, dag.roots.includes(id) ? 'queued' : 'pending']));
        await db.insertInto('node_runs').values(ids.map((id) => ({ run_id: run.id, node_id: id, type: 'noop', status: state.get(id)! }))).execute();

        for (let step = 0; step < n; step++) {
          const ready = ids.filter((id) => state.get(id) === 'queued');
          if (ready.length === 0) break;
          const next = ready[picks[step]! % ready.length]!;
          const planned = outcomes[ids.indexOf(next)]!;
          if (planned === 'cancelled') {
            await db.updateTable('node_runs').set({ status: 'cancelled', error: JSON.stringify({ code: 'cancelled', message: 'cancelled' }), finished_at: new Date() })
              .where('run_id', '=', run.id).where('node_id', '=', next).execute();
            state.set(next, 'cancelled');
            continue;
          }
          const viaChild = planned === 'child';
          const outcome = viaChild ? 'succeeded' : planned;
          // Any run id satisfies the foreign key: the holder check compares ids, not runs.
          const childRunId = viaChild ? run.id : undefined;
          await db.updateTable('node_runs').set(viaChild ? { status: 'waiting', attempts: 1, child_run_id: childRunId } : { status: 'running', attempts: 1 })
            .where('run_id', '=', run.id).where('node_id', '=', next).execute();
          const error = outcome === 'succeeded' ? null : { code: outcome === 'failed' ? 'boom' : 'condition_false', message: `${next} ${outcome}` };
          const result = await recordNodeOutcome(db, {
            runId: run.id,
            nodeId: next,
            holder: viaChild ? { status: 'waiting', childRunId } : { status: 'running', attempt: 1 },
            outcome: { status: outcome, output: outcome === 'succeeded' ? { from: next } : null, error },
            event: { type: `node.${outcome}`, nodeId: next, attempt: viaChild ? undefined : 1 },
            maxOutputBytes: 1_000_000,
          });
          expect(result.recorded).toBe(true);

          state.set(next, outcome);
          const plan = settle(dag, state, [next]);
          for (const id of plan.queue) state.set(id, 'queued');
          for (const s of plan.skip) state.set(s.nodeId, 'skipped');
          const rows = await db.selectFrom('node_runs').select(['node_id', 'status', 'error']).where('run_id', '=', run.id).execute();
          expect(Object.fromEntries(rows.map((r) => [r.node_id, r.status]))).toEqual(Object.fromEntries(state));
          for (const s of plan.skip) expect(rows.find((r) => r.node_id === s.nodeId)!.error).toEqual({ code: s.code, message: s.message });
          if (result.recorded) expect(result.runs[0]!.queued).toEqual(plan.queue);
        }

        const stored0 = await db.selectFrom('node_runs').select(['node_id', 'status']).where('run_id', '=', run.id).execute();
        expect(Object.fromEntries(stored0.map((r) => [r.node_id, r.status]))).toEqual(Object.fromEntries(state));
        // A cancel here only marks the node (a real cancel ends the run itself), so it decides
        // nothing: what waits only on it stays pending, and if it came last nothing ended the
        // run. The statuses were compared above; the run's end is compared when a result ended it.
        if ([...state.values()].includes('cancelled')) {
          const open = await db.selectFrom('runs').select('status').where('id', '=', run.id).executeTakeFirstOrThrow();
          if (open.status === 'running' || ![...state.values()].every(isTerminal)) {
            expect(open.status).toBe('running');
            return;
          }
        }
        expect([...state.values()].every(isTerminal)).toBe(true);
        const ending = runOutcome(state);
        const stored = await db.selectFrom('runs').select(['status', 'output', 'error']).where('id', '=', run.id).executeTakeFirstOrThrow();
        expect(stored.status).toBe(ending);
        const sinkOutputs = Object.fromEntries(dag.sinks.filter((id) => state.get(id) === 'succeeded').map((id) => [id, { from: id }]));
        expect(stored.output).toEqual(sinkOutputs);
        if (ending === 'failed') expect(stored.error).toMatchObject({ code: 'node_failed', nodeId: expect.any(String) });
        const events = await db.selectFrom('run_events').select(['type', 'node_id']).where('run_id', '=', run.id).orderBy('id').execute();
        expect(events.filter((e) => e.type.startsWith('run.'))).toEqual([{ type: `run.${ending}`, node_id: null }]);
        // One terminal event per node, and node.queued exactly for the nodes queued after the start.
        for (const id of ids) expect(events.filter((e) => e.node_id === id && /succeeded|failed|skipped/.test(e.type))).toHaveLength(state.get(id) === 'cancelled' ? 0 : 1);
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  it('records nothing for a holder that does not hold the node', async () => {
    const definition = { name: 'stale', nodes: [{ id: 'a', type: 'noop', params: {} }], edges: [] };
    const wf = await insertWorkflow(db, workspaceId, { name: 'stale' }, definition, null);
    const run = await db.insertInto('runs').values({ workspace_id: workspaceId, workflow_id: wf.id, version: 1, status: 'running', started_at: new Date(), trigger_type: 'api' }).returning('id').executeTakeFirstOrThrow();
    await db.insertInto('node_runs').values({ run_id: run.id, node_id: 'a', type: 'noop', status: 'running', attempts: 2 }).execute();
    const args = { runId: run.id, nodeId: 'a', outcome: { status: 'succeeded' as const, output: 1 }, event: { type: 'node.succeeded' as const }, maxOutputBytes: 1000 };
    expect(await recordNodeOutcome(db, { ...args, holder: { status: 'running', attempt: 1 } })).toEqual({ recorded: false });
    expect(await recordNodeOutcome(db, { ...args, holder: { status: 'waiting' } })).toEqual({ recorded: false });
    expect((await recordNodeOutcome(db, { ...args, holder: { status: 'running', attempt: 2 } })).recorded).toBe(true);
    expect(await recordNodeOutcome(db, { ...args, holder: { status: 'running', attempt: 2 } })).toEqual({ recorded: false });
  });
});
