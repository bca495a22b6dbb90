import { beforeAll, describe, expect, it } from 'vitest';
import { ExpressionError, resolveTemplates, type ExpressionScope } from './expressions.js';

/**
 * What one node's expressions may cost everyone else: memory (results are measured inside the
 * sandbox, before anything copies them), time (a budget across all of a node's expressions), and
 * waiting (nodes interleave expression by expression over a pool of threads).
 */
const scope: ExpressionScope = { input: { n: 3 }, nodes: {}, run: { id: 'r', workflowId: 'w', attempt: 1 } };

async function failure(p: Promise<unknown>): Promise<ExpressionError> {
  const outcome = await p.then((v) => ({ resolved: v }), (err: unknown) => ({ err }));
  if (!('err' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.resolved).slice(0, 200)}`);
  expect(outcome.err).toBeInstanceOf(ExpressionError);
  return outcome.err as ExpressionError;
}

/** An object of `count` params, each an expression that takes a few milliseconds. */
const manyExpressions = (count: number) =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`p${i}`, `{{ $count($map([1..3000], function($v){ $v * ${i} })) }}`]));

beforeAll(async () => {
  expect(await resolveTemplates('{{ 1 }}', scope, '/p', { nodeId: 'warm' })).toBe(1);
});

describe('results are bounded inside the sandbox', () => {
  it('refuses a 450-million-character $pad with output_too_large, and the process does not grow by it', async () => {
    const before = process.memoryUsage().rss;
    const errors = await Promise.all(
      Array.from({ length: 8 }, (_, i) => failure(resolveTemplates({ big: '{{ $pad("", 450000000, "x") }}' }, scope, '/params', { nodeId: `pad${i}` }))),
    );
    for (const err of errors) {
      expect(err.code).toBe('output_too_large');
      expect(err.message).toContain('/params/big');
    }
    // Copied out and serialised, eight of these took a worker from ~130 MB to 1.9 GB.
    expect(process.memoryUsage().rss - before).toBeLessThan(400 * 1024 * 1024);
    expect(await resolveTemplates('{{ input.n + 1 }}', scope, '/p', { nodeId: 'after' })).toBe(4);
  }, 30_000);

  it('bounds what all of a node\'s expressions make together, string doubling included', async () => {
    const two = { a: '{{ $pad("", 600, "a") }}', b: '{{ $pad("", 600, "b") }}' };
    expect((await failure(resolveTemplates(two, scope, '/params', { nodeId: 'n', maxBytes: 1000 }))).code).toBe('output_too_large');
    expect(await resolveTemplates(two, scope, '/params', { nodeId: 'n', maxBytes: 2000 })).toEqual({ a: 'a'.repeat(600), b: 'b'.repeat(600) });
    const doubling = '{{ $reduce([1..24], function($acc, $v){ $acc & $acc }, "xxxxxxxx") }}';
    expect((await failure(resolveTemplates(doubling, scope, '/params', { nodeId: 'n' }))).code).toBe('output_too_large');
  });
});

describe('a node\'s expressions share one time budget', () => {
  it('stops a node whose many cheap expressions add up past its budget', async () => {
    const started = performance.now();
    const err = await failure(resolveTemplates(manyExpressions(1000), scope, '/params', { nodeId: 'many', budgetMs: 150 }));
    expect(err.code).toBe('expression_timeout');
    expect(err.message).toMatch(/node 'many': its expressions ran \d+ ms, past their budget of 150 ms/);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('stops evaluating when the caller gives up (the node timed out or was cancelled)', async () => {
    const gone = new AbortController();
    const pending = resolveTemplates(manyExpressions(1000), scope, '/params', { nodeId: 'abandoned', budgetMs: 60_000 }, gone.signal);
    setTimeout(() => gone.abort(new Error('node timed out')), 50);
    await expect(pending).rejects.toThrow('node timed out');
  });
});

describe('fairness', () => {
  it('a one-expression node is not queued behind other nodes\' thousands', async () => {
    const heavy = new AbortController();
    let heavyDone = 0;
    const heavies = Array.from({ length: 3 }, (_, i) =>
      resolveTemplates(manyExpressions(1000), scope, '/params', { nodeId: `heavy${i}`, budgetMs: 60_000 }, heavy.signal).then(
        () => void heavyDone++,
        () => undefined,
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(await resolveTemplates('{{ input.n * 2 }}', scope, '/p', { nodeId: 'light' })).toBe(6);
    // Answered while every heavy node is still being evaluated: it waited for a few expressions, not for them.
    expect(heavyDone).toBe(0);
    heavy.abort(new Error('test over'));
    await Promise.all(heavies);
  }, 30_000);
});
