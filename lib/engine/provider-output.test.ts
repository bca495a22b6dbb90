import { describe, expect, it } from 'vitest';
import { asJsonOutput } from './provider-output.js';

describe('asJsonOutput', () => {
  it('passes JSON through, shared values included; undefined at the top is null; a Date is what toJSON gives', () => {
    const shared = { a: 1 };
    const value = { s: 'x', n: 1.5, b: false, z: null, list: [shared, shared], nested: { shared }, at: new Date(0), bare: Object.create(null) };
    expect(asJsonOutput(value)).toBe(value);
    expect(asJsonOutput(undefined)).toBeNull();
    expect(asJsonOutput('text')).toBe('text');
  });

  it.each([
    [{ f: () => 1 }, 'a function at /f'],
    [{ deep: [1, { u: undefined }] }, 'undefined at /deep/1/u'],
    [{ n: Number.NaN }, 'NaN at /n'],
    [[Infinity], 'Infinity at /0'],
    [{ big: 1n }, 'a bigint at /big'],
    [{ s: Symbol('x') }, 'a symbol at /s'],
    [{ m: new Map() }, 'a Map instance at /m'],
    [new Set([1]), 'a Set instance at /'],
  ])('refuses %o: %s', (value, where) => {
    expect(() => asJsonOutput(value)).toThrow(expect.objectContaining({ code: 'invalid_output', message: `the provider returned a value that is not JSON: ${where}` }));
  });
});
