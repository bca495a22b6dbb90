import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('GroupCommit', () => {
  it('sends an item alone at once when idle, and what arrives meanwhile as one batch', async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number, number>(
      async (items) => {
        batches.push(items);
        await tick();
        return items.map((i) => i * 10);
      },
      async () => {
        throw new Error('not used');
      },
    );
    const first = gc.submit(1);
    const rest = [2, 3, 4].map((i) => gc.submit(i));
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
    expect(await gc.submit(5)).toBe(50);
    expect(batches.at(-1)).toEqual([5]);
  });

  it('retries a failed batch item by item: a bad item fails alone', async () => {
    const gc = new GroupCommit<number, number>(
      async (items) => {
        await tick();
        if (items.includes(13)) throw new Error('batch refused');
        return items;
      },
      async (item) => {
        if (item === 13) throw new Error(`item ${item} refused`);
        return item;
      },
    );
    const blocker = gc.submit(0);
    const outcomes = await Promise.allSettled([12, 13, 14].map((i) => gc.submit(i)));
    await blocker;
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([12, 'item 13 refused', 14]);
    expect(await gc.submit(13).catch((e: Error) => e.message)).toBe('batch refused');
  });

  it('caps a batch and keeps draining', async () => {
    const sizes: number[] = [];
    const gc = new GroupCommit<number, number>(async (items) => (sizes.push(items.length), await tick(), items), async (i) => i, { maxBatch: 3 });
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) => gc.submit(i)));
    expect(all).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(sizes).toEqual([1, 3, 3, 3]);
  });

  it('keeps up to maxInFlight batches travelling at once, each gathering what arrived meanwhile', async () => {
    let live = 0;
    let peak = 0;
    const sizes: number[] = [];
    const gc = new GroupCommit<number, number>(
      async (items) => {
        live++;
        peak = Math.max(peak, live);
        sizes.push(items.length);
        await tick();
        live--;
        return items;
      },
      async (i) => i,
      { maxInFlight: 2 },
    );
    const all = await Promise.all(Array.from({ length: 7 }, (_, i) => gc.submit(i)));
    expect(all).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(peak).toBe(2);
    expect(sizes).toEqual([1, 1, 5]);
  });
});
