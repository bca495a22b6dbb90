import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ExpressionError, checkExpressions, checkGuard, evaluateGuard, resolveTemplates, type ExpressionScope } from './expressions.js';

const scope: ExpressionScope = {
  input: { name: 'world', n: 3, flag: true, order: { id: 'o-1', total: 120, items: [{ sku: 'a', qty: 2 }, { sku: 'b', qty: 1 }] } },
  nodes: {
    fetch: { output: { status: 200, body: { id: 7, tags: ['x', 'y'] } }, status: 'succeeded' },
    empty: { output: null, status: 'skipped' },
  },
  run: { id: 'run-1', workflowId: 'wf-1', attempt: 2 },
};
const opts = { nodeId: 'n1' };
const resolve = (value: unknown, s: ExpressionScope = scope, pointer = '/params') => resolveTemplates(value, s, pointer, opts);

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<ExpressionError> {
  const outcome = await p.then((v) => ({ resolved: v }), (err: unknown) => ({ err }));
  if (!('err' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.resolved)}`);
  expect(outcome.err).toBeInstanceOf(ExpressionError);
  return outcome.err as ExpressionError;
}

async function timed<T>(p: Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await p;
  return [v, performance.now() - t0];
}

beforeAll(async () => {
  // The sandbox thread starts on first use; start it here so timings below measure evaluation.
  expect(await resolve('{{ 1 }}')).toBe(1);
});

describe('interpolation and the raw-value rule', () => {
  it('interpolates text, rendering non-strings as JSON', async () => {
    expect(await resolve('hello {{ input.name }}!')).toBe('hello world!');
    expect(await resolve('n={{ input.n }} flag={{ input.flag }} tags={{ nodes.fetch.output.body.tags }}')).toBe('n=3 flag=true tags=["x","y"]');
    expect(await resolve('{{ input.name }}{{ input.n }}')).toBe('world3');
    expect(await resolve('order {{ input.order.items[0] }}')).toBe('order {"sku":"a","qty":2}');
  });

  it('a string that is exactly one {{ }} yields the raw value', async () => {
    expect(await resolve('{{ input.n }}')).toBe(3);
    expect(await resolve('  {{ input.flag }} ')).toBe(true);
    expect(await resolve('{{ input.order }}')).toEqual((scope.input as any).order);
    expect(await resolve('{{ nodes.empty.output }}')).toBeNull();
    expect(await resolve('{{ input.order.items.qty }}')).toEqual([2, 1]);
    expect(await resolve('{{ input.n > 2 }}')).toBe(true);
  });

  it('resolves templates anywhere inside params, leaving other values untouched', async () => {
    const params = { url: 'https://x.example/{{ input.order.id }}', body: { total: '{{ input.order.total }}', list: ['{{ input.n }}', 5, null, false] }, keep: 'plain' };
    expect(await resolve(params)).toEqual({ url: 'https://x.example/o-1', body: { total: 120, list: [3, 5, null, false] }, keep: 'plain' });
    expect(params.body.total).toBe('{{ input.order.total }}'); // a copy, not an edit
  });

  it('holds for any JSON value: raw alone, its text form with text around it (property)', async () => {
    const text = fc.string({ maxLength: 8 }).filter((s) => s.trim() !== '' && !s.includes('{') && !s.includes('}'));
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), text, text, async (generated, before, after) => {
        const v = JSON.parse(JSON.stringify(generated)) as never; // as Postgres hands it back: no -0
        const s: ExpressionScope = { ...scope, input: { v }, nodes: { a: { output: v, status: 'succeeded' } } };
        expect(await resolve('{{ input.v }}', s)).toEqual(v);
        expect(await resolve(' {{ nodes.a.output }} ', s)).toEqual(v);
        const rendered = typeof v === 'string' ? v : JSON.stringify(v);
        expect(await resolve(`${before}{{ input.v }}${after}`, s)).toBe(`${before}${rendered}${after}`);
      }),
      { numRuns: 150 },
    );
  });
});

describe('scope', () => {
  it('offers input, nodes.<id>.output, nodes.<id>.status and run', async () => {
    expect(await resolve('{{ nodes.fetch.output.body.id }}')).toBe(7);
    expect(await resolve('{{ nodes.fetch.status }}')).toBe('succeeded');
    expect(await resolve('{{ nodes.empty.status }}')).toBe('skipped');
    expect(await resolve('{{ run }}')).toEqual({ id: 'run-1', workflowId: 'wf-1', attempt: 2 });
    expect(await resolve('{{ run.id }}/{{ run.workflowId }}/{{ run.attempt }}')).toBe('run-1/wf-1/2');
    expect(await resolve('{{ $$.nodes.fetch.output.status }}')).toBe(200);
    expect(await resolve('{{ $sum(input.order.items.qty) }}')).toBe(3);
  });

  it('reaches nothing beyond the scope: no $eval, no prototype, no globals', async () => {
    const noEval = await failure(resolve({ x: '{{ $eval("1 + 1") }}' }));
    expect(noEval.code).toBe('expression_error');
    expect(noEval.message).toMatch(/\$eval is not available/);
    for (const escape of ['input.constructor', 'input.__proto__', '$lookup(input, "constructor")', '$process', '$require', '$globalThis', 'input.constructor.constructor("return process")()']) {
      expect((await failure(resolve(`{{ ${escape} }}`))).code).toBe('expression_error');
    }
  });
});

describe('errors', () => {
  it('a missing field in a param is an expression_error naming the node, the param and the expression', async () => {
    const err = await failure(resolve({ url: 'https://x.example/{{ input.missing.id }}' }));
    expect(err.code).toBe('expression_error');
    expect(err.message).toContain("node 'n1'");
    expect(err.message).toContain('/params/url');
    expect(err.message).toContain('{{ input.missing.id }}');
    expect(err.message).toMatch(/missing node or field/);
    const deep = await failure(resolve({ 'a/b': [{ 'c~d': '{{ nodes.ghost.output }}' }] }));
    expect(deep.message).toContain('/params/a~1b/0/c~0d');
    expect(deep.message).toContain('{{ nodes.ghost.output }}');
  });

  it('a failing function names the expression and JSONata\'s reason', async () => {
    const err = await failure(resolve({ total: '{{ $number("abc") + 1 }}' }));
    expect(err.code).toBe('expression_error');
    expect(err.message).toContain('/params/total');
    expect(err.message).toContain('{{ $number("abc") + 1 }}');
    expect(err.message).toMatch(/failed: /);
  });

  it('an unparseable expression at run time is an expression_error, not a crash', async () => {
    const err = await failure(resolve({ x: '{{ 1 + }}' }));
    expect(err.code).toBe('expression_error');
    expect(err.message).toMatch(/does not parse/);
  });
});

describe('the time bound', () => {
  it('stops a recursive lambda that never returns with expression_timeout, fast', async () => {
    const [err, ms] = await timed(failure(resolve({ loop: '{{ ($f := function($x){ $f($x) }; $f(1)) }}' })));
    expect(err.code).toBe('expression_timeout');
    expect(err.message).toContain("node 'n1': /params/loop: {{ ($f := function($x){ $f($x) }; $f(1)) }} ran longer than 100 ms");
    expect(ms).toBeLessThan(2_000);
  });

  it('stops a huge $map with expression_timeout', async () => {
    const [err, ms] = await timed(failure(resolve('{{ $count($map([1..99999], function($v){ $map([1..99999], function($w){ $w }) })) }}')));
    expect(err.code).toBe('expression_timeout');
    expect(ms).toBeLessThan(2_000);
  });

  it('honours a custom timeoutMs', async () => {
    const [err, ms] = await timed(failure(resolveTemplates('{{ ($f := function($x){ $f($x + 1) }; $f(1)) }}', scope, '/p', { nodeId: 'n1', timeoutMs: 20 })));
    expect(err.code).toBe('expression_timeout');
    expect(err.message).toMatch(/ran longer than 20 ms/);
    expect(ms).toBeLessThan(1_500);
  });

  it('refuses a huge range outright', async () => {
    const err = await failure(resolve('{{ $count([1..10000000]) }}'));
    expect(err.code).toBe('expression_error');
    expect(err.message).toMatch(/maximum sequence length/);
  });

  it('fails deep recursion cleanly, and the next evaluation still works', async () => {
    const err = await failure(resolve('{{ ($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000)) }}'));
    expect(err.code).toBe('expression_error');
    expect(err.message).toMatch(/recursed deeper than \d+ levels/);
    expect(await resolve('{{ ($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(20)) }}')).toBe(20);
  });

  it('does not mistake a stalled caller for a hung expression', async () => {
    // The thread answers while this thread is busy; the watchdog must see the answer, not the clock.
    const pending = resolveTemplates('{{ $count($map([1..5000], function($v){ $v })) }}', scope, '/p', { nodeId: 'n1', timeoutMs: 1_000 });
    await new Promise((r) => setTimeout(r, 5));
    // A long synchronous stretch on the caller's thread (GC, a big JSON.parse), past the bound and the
    // watchdog's grace; from setImmediate, so the watchdog's timer runs before the answer is read.
    await new Promise<void>((r) =>
      setImmediate(() => {
        const until = Date.now() + 1_300;
        while (Date.now() < until);
        r();
      }),
    );
    expect(await pending).toBe(5000);
  });

  it.each([
    ['a catastrophic regex', '$match("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", /(a+)+$/)'],
    ['$distinct over 100k items', '$count($distinct([1..99999]))'],
    ['$sort of 100k items', '$count($sort([1..99999]))'],
    ['a huge $pad', '$length($pad("", 100000000))'],
  ])('bounds a blocking built-in: %s (the sandbox is replaced, other evaluations carry on)', async (_label, source) => {
    const blocked = timed(failure(resolve({ x: `{{ ${source} }}` })));
    const bystander = resolve('{{ input.n * 2 }}'); // queued behind it: must get its own answer
    const [err, ms] = await blocked;
    expect(err.code).toBe('expression_timeout');
    expect(err.message).toContain(`/params/x: {{ ${source} }} ran longer than 100 ms`);
    expect(ms).toBeLessThan(3_000);
    expect(await bystander).toBe(6);
    expect(await resolve('{{ input.name }}')).toBe('world');
  }, 20_000);
});

describe('when guards', () => {
  const guard = (when: string) => evaluateGuard(when, scope, opts);

  it('casts to boolean the JSONata way, as a template or a bare expression', async () => {
    expect(await guard('{{ input.order.total > 100 }}')).toBe(true);
    expect(await guard('input.order.total > 1000')).toBe(false);
    expect(await guard('{{ nodes.fetch.status = "succeeded" }}')).toBe(true);
    for (const falsy of ['""', '0', 'null', '[]', '{}', 'false', '[0, ""]']) expect(await guard(`{{ ${falsy} }}`)).toBe(false);
    for (const truthy of ['"x"', '1', '[0, 1]', '{"a": 1}', 'true']) expect(await guard(`{{ ${truthy} }}`)).toBe(true);
  });

  it('is simply false over a missing field or node', async () => {
    expect(await guard('{{ input.missing }}')).toBe(false);
    expect(await guard('{{ input.missing.deeper > 3 }}')).toBe(false);
    expect(await guard('nodes.ghost.output.ok')).toBe(false);
  });

  it('must be a single expression', async () => {
    const err = await failure(guard('{{ input.flag }} and {{ input.n }}'));
    expect(err.code).toBe('expression_error');
    expect(err.message).toContain("node 'n1': /when");
  });

  it('is time-bounded too', async () => {
    expect((await failure(guard('{{ ($f := function(){ $f() }; $f()) }}'))).code).toBe('expression_timeout');
  });
});

describe('checkExpressions', () => {
  it('lists every problem with its JSON pointer, without evaluating', () => {
    const { problems } = checkExpressions(
      { ok: '{{ input.a }}', bad: '{{ 1 + }}', open: 'x {{ input.b', nested: { 'a/b': ['{{ ) }}'] }, empty: '{{ }}', plain: 'no templates', n: 5 },
      '/nodes/0/params',
    );
    expect(problems.map((p) => p.pointer)).toEqual(['/nodes/0/params/bad', '/nodes/0/params/open', '/nodes/0/params/nested/a~1b/0', '/nodes/0/params/empty']);
    expect(problems[0]!.message).toMatch(/expression \{\{ 1 \+ \}\} does not parse: .*position/);
    expect(problems[1]!.message).toMatch(/has no matching '\}\}'/);
  });

  it('finds the nodes an expression references', () => {
    const refs = (value: unknown) => {
      const c = checkExpressions(value, '/params');
      return { refs: [...c.referencedNodes].sort(), dynamic: c.dynamic };
    };
    expect(refs('{{ nodes.a.x }}')).toEqual({ refs: ['a'], dynamic: false });
    expect(refs(['{{ $$.nodes.b.output }}', { k: 'x {{ $.nodes.c.status }} {{ nodes.d }}' }])).toEqual({ refs: ['b', 'c', 'd'], dynamic: false });
    expect(refs('{{ nodes.`odd id`.output }}')).toEqual({ refs: ['odd id'], dynamic: false });
    expect(refs('{{ input.x + run.attempt }}')).toEqual({ refs: [], dynamic: false });
    expect(refs('{{ input.items[$ > 2] }}')).toEqual({ refs: [], dynamic: false });
    expect(refs('{{ input.items.(* ) }}')).toEqual({ refs: [], dynamic: false });
    expect(refs('{{ $map(input.items, function($v){ $v.id }) }}')).toEqual({ refs: [], dynamic: false });
    expect(refs('{{ $now() }}')).toEqual({ refs: [], dynamic: false });
    expect(refs('plain text')).toEqual({ refs: [], dynamic: false });
  });

  it.each([
    '$keys(nodes)',
    'nodes',
    'nodes[0]',
    'nodes.*.output',
    'nodes.($k := "a"; $lookup($, $k))',
    '$lookup(nodes, "a")',
    '($n := nodes; $n.a)',
    '$$',
    '$',
    '$lookup($$, "nodes")',
    '**.output',
    '$.**.output',
    '*',
    'input.%.nodes',
    '$string()',
    '$spread()',
  ])('marks %s dynamic: it may read outputs it does not name', (source) => {
    expect(checkExpressions(`{{ ${source} }}`, '/params').dynamic).toBe(true);
  });

  it('checkGuard parses a bare or templated when and refuses two expressions', () => {
    expect(checkGuard('nodes.a.output.ok', '/nodes/1/when')).toEqual({ problems: [], referencedNodes: new Set(['a']), dynamic: false });
    expect(checkGuard('{{ nodes.b.status = "succeeded" }}', '/when').referencedNodes).toEqual(new Set(['b']));
    expect(checkGuard('input.x >', '/when').problems).toEqual([{ pointer: '/when', message: expect.stringMatching(/does not parse/) }]);
    expect(checkGuard('{{ a }} {{ b }}', '/when').problems[0]?.message).toMatch(/single/);
    expect(checkGuard('{{ a', '/when').problems[0]?.message).toMatch(/no matching/);
  });
});

describe('no code from strings', () => {
  const roots = ['lib', 'apps', 'db'];
  const files = roots.flatMap(function walk(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return walk(path);
      return /\.(ts|mts|js|mjs)$/.test(name) && !/\.test\.ts$/.test(name) ? [path] : [];
    });
  });

  it('nothing in lib/, apps/ or db/ uses eval, new Function or vm', () => {
    expect(files.length).toBeGreaterThan(20);
    const offences = files.flatMap((path) => {
      const source = readFileSync(path, 'utf8');
      return [
        /(?<![\w$.'"`])eval\s*\(/,
        /\bnew\s+Function\b/,
        /(?<![\w$.])Function\s*\(\s*['"`]/,
        /from\s+['"](node:)?vm['"]/,
        /require\(\s*['"](node:)?vm['"]\s*\)/,
        /import\(\s*['"](node:)?vm['"]\s*\)/,
        /\beval\s*:\s*true\b/,
      ].flatMap((pattern) => (pattern.test(source) ? [`${relative('.', path)}: ${pattern}`] : []));
    });
    expect(offences).toEqual([]);
  });
});
