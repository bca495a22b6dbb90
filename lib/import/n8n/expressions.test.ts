import fc from 'fast-check';
import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { Untranslatable, toJsonata, translateValue, type ExprScope, type ExpressionProblem } from './expressions.js';
import { translateJsonText } from './json-text.js';

const scope: ExprScope = {
  json: () => ({ ok: true, ref: { base: 'nodes.prev.output.body' } }),
  node: (name) =>
    name === 'Webhook' ? { ok: true, ref: { base: 'input' } }
    : name === 'Fetch' ? { ok: true, ref: { base: 'nodes.fetch.output', rename: { statusCode: 'status' } } }
    : { ok: false, reason: `'${name}' is not upstream` },
};
const data = { input: { body: { x: 1 } }, nodes: { prev: { output: { body: { name: 'Ada', total: 150, 'first name': 'A', items: [{ id: 7 }], a: 2, b: 3, s: 'x' } } }, fetch: { output: { status: 201, body: { total: 5 } } } }, run: { id: 'r1', workflowId: 'w1' } };
const run = async (js: string) => jsonata(toJsonata(js, scope)).evaluate(data);

describe('n8n expression → JSONata', () => {
  it.each([
    ['$json.name', 'nodes.prev.output.body.name', 'Ada'],
    ['$json["first name"]', 'nodes.prev.output.body.`first name`', 'A'],
    ['$json.items[0].id', 'nodes.prev.output.body.items[0].id', 7],
    ['$input.item.json.total', 'nodes.prev.output.body.total', 150],
    ['$input.first().json.total', 'nodes.prev.output.body.total', 150],
    ["$('Webhook').item.json.body.x", 'input.body.x', 1],
    ["$('Webhook').first().json.body.x", 'input.body.x', 1],
    ['$node["Fetch"].json.statusCode', 'nodes.fetch.output.status', 201],
    ['$node.Fetch.json.body.total', 'nodes.fetch.output.body.total', 5],
    ['$execution.id', 'run.id', 'r1'],
  ])('%s → %s', async (js, code, value) => {
    expect(toJsonata(js, scope)).toBe(code);
    expect(await run(js)).toEqual(value);
  });

  it('translates concatenation, comparisons, logic and simple ternaries with JavaScript meaning', async () => {
    expect(await run("'Hello ' + $json.name + '!'")).toBe('Hello Ada!');
    expect(await run('`Dear ${$json.name}, ${$json.total}`')).toBe('Dear Ada, 150');
    expect(await run("$json.total > 100 ? 'big' : 'small'")).toBe('big');
    expect(await run('$json.total === 150 && $json.name !== "Bob"')).toBe(true);
    // `+` of two unknowns adds numbers and concatenates anything else, as JavaScript does.
    expect(await run('$json.a + $json.b')).toBe(5);
    expect(await run('$json.s + $json.a')).toBe('x2');
    expect(await run('$json.missing || "anonymous"')).toBe('anonymous');
    expect(await run('!$json.name')).toBe(false);
    expect(await run('($json.total - 50) * 2')).toBe(200);
  });

  it.each([
    ['$now', /\$now/],
    ['new Date().toISOString()', /new/],
    ['$json.items.map(i => i.id)', /method calls/],
    ['JSON.parse($json.s)', /method calls|JSON/],
    ["$('Fetch').all()", /item lists/],
    ['$items("Fetch")', /item lists/],
    ['$json.name.toUpperCase()', /method calls/],
    ["$('Other').item.json.x", /not upstream/],
    ['$json[$json.key]', /computed/],
    ['a = 1; b', /single expression|parse/],
  ])('refuses %s', (js, reason) => {
    expect(() => toJsonata(js, scope)).toThrow(reason);
  });

  it('turns =-parameters into Conveyor templates and keeps literal text literal', () => {
    const problems: ExpressionProblem[] = [];
    expect(translateValue('=Hello {{ $json.name }}!', scope, 'text', problems)).toBe('Hello {{ nodes.prev.output.body.name }}!');
    expect(translateValue('={{ $json.total }}', scope, 'n', problems)).toBe('{{ nodes.prev.output.body.total }}');
    expect(translateValue('=https://x.example/a', scope, 'url', problems)).toBe('https://x.example/a');
    expect(translateValue('literal {{ braces }}', scope, 's', problems)).toBe('{{ "literal {{ braces }}" }}');
    expect(translateValue({ a: ['={{ $json.s }}', 3] }, scope, 'o', problems)).toEqual({ a: ['{{ nodes.prev.output.body.s }}', 3] });
    expect(problems).toEqual([]);
    expect(translateValue('=at {{ $now.toISO() }}', scope, 'when', problems)).toBeUndefined();
    expect(problems).toEqual([{ parameter: 'when', text: 'at {{ $now.toISO() }}', reason: expect.stringMatching(/\$now/) }]);
  });

  it('reads JSON text with expressions: raw values where they stand alone, text inside strings', () => {
    const problems: ExpressionProblem[] = [];
    const body = translateJsonText('={ "id": {{ $json.total }}, "name": "{{ $json.name }}", "greeting": "Hi {{ $json.name }}", "n": 1 }', scope, 'jsonBody', problems);
    expect(body).toEqual({ id: '{{ nodes.prev.output.body.total }}', name: '{{ $string(nodes.prev.output.body.name) }}', greeting: 'Hi {{ $string(nodes.prev.output.body.name) }}', n: 1 });
    expect(translateJsonText('={{ $json }}', scope, 'jsonBody', problems)).toBe('{{ nodes.prev.output.body }}');
    expect(problems).toEqual([]);
    expect(translateJsonText('={ "a": {{ $json.x }', scope, 'jsonBody', problems)).toBeUndefined();
    expect(problems[0]).toMatchObject({ parameter: 'jsonBody' });
  });

  it('property: a field path reads the same value in JSONata as in n8n, whatever the keys', async () => {
    const key = fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !k.includes('`'));
    const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.boolean());
    await fc.assert(
      fc.asyncProperty(fc.array(key, { minLength: 1, maxLength: 4 }), leaf, fc.boolean(), async (path, value, dotted) => {
        const item = path.reduceRight<unknown>((inner, k) => ({ [k]: inner }), value);
        const js = `$json${path.map((k) => (dotted && /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`)).join('')}`;
        const got = await jsonata(toJsonata(js, scope)).evaluate({ nodes: { prev: { output: { body: item } } } });
        expect(got).toEqual(value);
        const concat = await jsonata(toJsonata(`"<" + ${js} + ">"`, scope)).evaluate({ nodes: { prev: { output: { body: item } } } });
        expect(concat).toBe(`<${typeof value === 'string' ? value : JSON.stringify(value)}>`);
      }),
      { numRuns: 200 },
    );
    expect(() => toJsonata('$json["a`b"]', scope)).toThrow(Untranslatable);
  });
});
