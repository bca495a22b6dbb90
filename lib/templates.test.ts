import { describe, expect, it } from 'vitest';
import { TemplateSyntaxError, hasTemplate, singleExpression, splitTemplate } from './templates.js';

describe('splitTemplate', () => {
  it('splits text and expressions, trimming the expression source and keeping offsets', () => {
    expect(splitTemplate('hello {{ input.name }}!')).toEqual([
      { kind: 'text', text: 'hello ' },
      { kind: 'expr', source: 'input.name', offset: 6 },
      { kind: 'text', text: '!' },
    ]);
    expect(splitTemplate('{{a}}{{b}}')).toEqual([
      { kind: 'expr', source: 'a', offset: 0 },
      { kind: 'expr', source: 'b', offset: 5 },
    ]);
    expect(splitTemplate('no template here')).toEqual([{ kind: 'text', text: 'no template here' }]);
  });

  it('finds the closing }} outside nested braces', () => {
    expect(splitTemplate('{{ {"a": {"b": 1}} }}')).toEqual([{ kind: 'expr', source: '{"a": {"b": 1}}', offset: 0 }]);
    expect(splitTemplate('{{ {"a":1}}}')).toEqual([{ kind: 'expr', source: '{"a":1}', offset: 0 }]);
    expect(splitTemplate('x {{ $map([1], function($v){ {"v": $v} }) }} y').map((p) => p.kind)).toEqual(['text', 'expr', 'text']);
  });

  it('finds the closing }} outside string literals of every quote kind, honouring escapes', () => {
    expect(splitTemplate('{{ "a}}b" }}')[0]).toEqual({ kind: 'expr', source: '"a}}b"', offset: 0 });
    expect(splitTemplate("{{ 'a}}b' }}")[0]).toEqual({ kind: 'expr', source: "'a}}b'", offset: 0 });
    expect(splitTemplate('{{ input.`we}}ird` }}')[0]).toEqual({ kind: 'expr', source: 'input.`we}}ird`', offset: 0 });
    expect(splitTemplate('{{ "say \\"}}\\"" }} tail')).toEqual([
      { kind: 'expr', source: '"say \\"}}\\""', offset: 0 },
      { kind: 'text', text: ' tail' },
    ]);
  });

  it('leaves a }} in plain text alone', () => {
    expect(splitTemplate('a }} b {{ 1 }}')).toEqual([
      { kind: 'text', text: 'a }} b ' },
      { kind: 'expr', source: '1', offset: 7 },
    ]);
  });

  it('rejects an unclosed or empty template, naming the offset', () => {
    const unclosed = (() => {
      try {
        splitTemplate('ok {{ input.x');
      } catch (err) {
        return err;
      }
    })();
    expect(unclosed).toBeInstanceOf(TemplateSyntaxError);
    expect((unclosed as TemplateSyntaxError).offset).toBe(3);
    expect((unclosed as Error).message).toMatch(/offset 3 has no matching '}}'/);
    expect(() => splitTemplate('{{ "}} }}')).toThrow(TemplateSyntaxError); // the string never closes
    expect(() => splitTemplate('a {{   }} b')).toThrow(/empty '\{\{ \}\}' at offset 2/);
  });
});

describe('singleExpression', () => {
  it('is the source when the string is one {{ }} with nothing but whitespace around it', () => {
    expect(singleExpression(splitTemplate('{{ input.n }}'))).toBe('input.n');
    expect(singleExpression(splitTemplate('  {{ input.n }}\n'))).toBe('input.n');
  });

  it('is undefined when there is text or a second expression', () => {
    expect(singleExpression(splitTemplate('n={{ input.n }}'))).toBeUndefined();
    expect(singleExpression(splitTemplate('{{ a }}{{ b }}'))).toBeUndefined();
    expect(singleExpression(splitTemplate('plain'))).toBeUndefined();
  });
});

it('hasTemplate looks for {{ only', () => {
  expect(hasTemplate('a {{ b }}')).toBe(true);
  expect(hasTemplate('a { b } }}')).toBe(false);
});
