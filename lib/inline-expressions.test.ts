import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveTemplates as jsonataResolve, type ExpressionScope } from './expression-eval.js';
import { NOT_INLINE, resolveInline } from './inline-expressions.js';

const scope: ExpressionScope = {
  input: { order: { id: 'o-1', total: 12.5, tags: ['a'], nested: { deep: null } }, flag: false, 'odd key': 1 },
  nodes: { fetch: { output: { body: { id: 7 } }, status: 'succeeded' } },
  run: { id: 'r', workflowId: 'w', attempt: 2 },
};

describe('resolveInline', () => {
  it('resolves plain paths as JSONata does, raw or interpolated', () => {
    expect(resolveInline('{{ input.order.id }}', scope)).toBe('o-1');
    expect(resolveInline({ a: ['{{ nodes.fetch.output.body }}', 'n={{ input.order.total }} f={{ input.flag }}'] }, scope)).toEqual({ a: [{ id: 7 }, 'n=12.5 f=false'] });
    expect(resolveInline('{{ input.`odd key` }}', scope)).toBe(1);
    expect(resolveInline('{{ input.order.nested.deep }}', scope)).toBeNull();
    expect(resolveInline('no templates', scope)).toBe('no templates');
  });

  it('leaves to the sandbox what is not a plain path through objects to a non-array', () => {
    for (const source of ['input.order.tags', 'input.order.tags[0]', 'input.missing', 'input.order.id.x', '$.input', 'input.order.total + 1', '$sum(input.x)', 'nodes.*.output', 'input.order.tags.x', '1 + ']) {
      expect(resolveInline(`{{ ${source} }}`, scope), source).toBe(NOT_INLINE);
    }
    expect(resolveInline({ ok: '{{ input.order.id }}', no: '{{ $now() }}' }, scope)).toBe(NOT_INLINE);
  });

  it('agrees with JSONata wherever it answers (property)', async () => {
    const json = fc.jsonValue({ maxDepth: 3 });
    const key = fc.constantFrom('a', 'b', 'c', '__proto__', 'constructor', 'x y');
    const tree = fc.dictionary(key, fc.oneof(json, fc.dictionary(key, fc.oneof(json, fc.dictionary(key, json)))));
    const path = fc.array(key, { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(tree, path, fc.boolean(), async (input, names, interpolate) => {
        const s: ExpressionScope = { input: JSON.parse(JSON.stringify(input)), nodes: {}, run: { id: 'r', workflowId: 'w', attempt: 1 } };
        const source = ['input', ...names].map((n) => (/^[a-z_]+$/i.test(n) ? n : `\`${n}\``)).join('.');
        const template = interpolate ? `<{{ ${source} }}>` : `{{ ${source} }}`;
        const inline = resolveInline(template, s);
        if (inline === NOT_INLINE) return;
        expect(inline).toEqual(await jsonataResolve(template, s, '/p', { nodeId: 'n' }));
      }),
      { numRuns: 500 },
    );
  });
});
