import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from './errors.js';
import { MAX_JSON_DEPTH, assertStorable, findUnstorable } from './json-storable.js';

const find = (text: string, base?: string) => findUnstorable(JSON.parse(text), base);

describe('findUnstorable', () => {
  it('refuses numbers beyond a double, naming the pointer', () => {
    expect(find('{"input": {"x": 1e400}}')).toEqual({
      code: 'number_out_of_range',
      pointer: '/input/x',
      message: 'The number at /input/x is out of range: finite numbers up to about ±1.8e308 are accepted; send larger ones as strings.',
    });
    expect(find('[1, [2, -1e400]]')?.pointer).toBe('/1/1');
    expect(find('{"a/b": {"c~d": 1E+309}}')?.pointer).toBe('/a~1b/c~0d');
    expect(find('-1e400')).toMatchObject({ code: 'number_out_of_range', pointer: '', message: expect.stringContaining('at the top level') });
    expect(find('{"n": 1e400}', '/body')?.pointer).toBe('/body/n');
  });

  it('accepts every finite number', () => {
    for (const text of ['1e308', '-1.7976931348623157e308', '5e-324', '0.1', '-0', '123456789012345678', '1e-400']) expect(find(text), text).toBeUndefined();
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => findUnstorable({ n }) === undefined));
  });

  it('names the first problem in document order, keys included', () => {
    expect(find('{"a": [1, "ok", 1e400], "b\\u0000": 1, "c": "\\ud800"}')?.pointer).toBe('/a/2');
    expect(find('{"a": 1, "b\\u0000": 1e400}')).toMatchObject({ code: 'nul_character', pointer: '/b\u0000' });
    expect(find('{"x": "\\udc00"}')).toMatchObject({ code: 'invalid_unicode', pointer: '/x' });
    expect(find('{"x": "\\ud83d\\ude80"}')).toBeUndefined();
  });

  it(`refuses nesting past ${MAX_JSON_DEPTH}, however deep, without recursion`, () => {
    expect(find(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)).toBeUndefined();
    expect(find(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`)?.code).toBe('too_deep');
    expect(find(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`)?.code).toBe('too_deep');
  });

  it('throws a 400 carrying the code and the pointer in details', () => {
    const err = (() => {
      try {
        assertStorable({ input: { x: Infinity } });
      } catch (e) {
        return e;
      }
    })() as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect({ status: err.status, code: err.code, details: err.details }).toEqual({
      status: 400,
      code: 'number_out_of_range',
      details: [{ pointer: '/input/x', message: err.message }],
    });
  });
});
