import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../db/types.js';
import { buildDag, findCycle } from '../workflows/dag.js';
import { isTerminal, runOutcome, settle } from './settle.js';

const chain = buildDag(['a', 'b', 'c'], [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }]);
const diamond = buildDag(['a', 'b', 'c', 'd'], [
  { from: 'a', to: 'b' },
  { from: 'a', to: 'c' },
  { from: 'b', to: 'd' },
  { from: 'c', to: 'd' },
]);
const statuses = (s: Record<string, NodeStatus>) => new Map(Object.entries(s));

describe('settle', () => {
  it('queues a successor once its only predecessor succeeded', () => {
    expect(settle(chain, statuses({ a: 'succeeded', b: 'pending', c: 'pending' }), ['a'])).toEqual({ queue: ['b'], skip: [] });
  });

  it('waits for every predecessor of a fan-in', () => {
    expect(settle(diamond, statuses({ a: 'succeeded', b: 'succeeded', c: 'running', d: 'pending' }), ['b'])).toEqual({ queue: [], skip: [] });
    expect(settle(diamond, statuses({ a: 'succeeded', b: 'succeeded', c: 'succeeded', d: 'pending' }), ['c'])).toEqual({ queue: ['d'], skip: [] });
  });

  it('skips with upstream_failed when a predecessor failed, and cascades', () => {
    const plan = settle(chain, statuses({ a: 'failed', b: 'pending', c: 'pending' }), ['a']);
    expect(plan.queue).toEqual([]);
    expect(plan.skip.map((s) => [s.nodeId, s.code])).toEqual([
      ['b', 'upstream_failed'],
      ['c', 'upstream_skipped'],
    ]);
  });

  it('skips a node whose predecessors were all skipped, runs one with at least one success', () => {
    expect(settle(diamond, statuses({ a: 'succeeded', b: 'skipped', c: 'skipped', d: 'pending' }), ['c']).skip[0]).toMatchObject({ nodeId: 'd', code: 'upstream_skipped' });
    expect(settle(diamond, statuses({ a: 'succeeded', b: 'skipped', c: 'succeeded', d: 'pending' }), ['c']).queue).toEqual(['d']);
  });

  it('never decides a node twice or touches a non-pending node', () => {
    expect(settle(chain, statuses({ a: 'succeeded', b: 'queued', c: 'pending' }), ['a'])).toEqual({ queue: [], skip: [] });
  });

  // Random DAGs (edges only from lower to higher index), random completions in topological
  // order: the run always ends with every node terminal, and the rules hold for every node.
  it('drives any DAG to an end where every node obeys the rules (property)', () => {
    const dagArb = fc.integer({ min: 2, max: 12 }).chain((n) =>
      fc.record({
        n: fc.constant(n),
        // Edges go from a lower to a higher index, so every generated graph is acyclic.
        edges: fc.uniqueArray(
          fc.tuple(fc.nat(n - 2), fc.nat(n - 2)).map(([a, d]) => [a, Math.min(n - 1, a + 1 + d)] as const),
          { maxLength: 30, selector: ([a, b]) => `${a}-${b}` },
        ),
        outcomes: fc.array(fc.constantFrom<NodeStatus>('succeeded', 'failed', 'skipped'), { minLength: n, maxLength: n }),
      }),
    );
    fc.assert(
      fc.property(dagArb, ({ n, edges, outcomes }) => {
        const ids = Array.from({ length: n }, (_, i) => `n${i}`);
        const dag = buildDag(ids, edges.map(([a, b]) => ({ from: `n${a}`, to: `n${b}` })));
        expect(findCycle(dag)).toBeUndefined();
        const state = new Map<string, NodeStatus>(ids.map((id) => [id, dag.roots.includes(id) ? 'queued' : 'pending']));
        for (let guard = 0; guard < n * 2; guard++) {
          const ready = ids.find((id) => state.get(id) === 'queued');
          if (!ready) break;
          state.set(ready, outcomes[ids.indexOf(ready)]!);
          const plan = settle(dag, state, [ready]);
          for (const id of plan.queue) state.set(id, 'queued');
          for (const s of plan.skip) state.set(s.nodeId, 'skipped');
        }
        expect([...state.values()].every(isTerminal)).toBe(true);
        for (const id of ids) {
          const preds = dag.preds.get(id)!.map((p) => state.get(p)!);
          if (preds.some((s) => s === 'failed')) expect(state.get(id)).toBe('skipped');
          if (preds.length > 0 && preds.every((s) => s === 'skipped')) expect(state.get(id)).toBe('skipped');
        }
        expect(runOutcome(state)).toBe([...state.values()].includes('failed') ? 'failed' : 'succeeded');
      }),
    );
  });
});

describe('findCycle', () => {
  it('names the nodes of a cycle', () => {
    const dag = buildDag(['a', 'b', 'c'], [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'c', to: 'a' }]);
    expect(findCycle(dag)).toEqual(['a', 'b', 'c', 'a']);
  });
});
