import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, redactSecrets } from './node-errors.js';

const TOKEN = 'Tok-Secret-1234';

describe('redactSecrets', () => {
  it('scrubs strings anywhere, keys included, and leaves the input as it was', () => {
    const input = {
      headers: { authorization: `Bearer ${TOKEN}`, [`x-echo-${TOKEN}`]: 'yes' },
      body: { [`Bearer ${TOKEN}`]: { seen: [TOKEN, 1, true, null] } },
    };
    const before = structuredClone(input);
    expect(redactSecrets(input, [TOKEN])).toEqual({
      headers: { authorization: `Bearer ${REDACTED}`, [`x-echo-${REDACTED}`]: 'yes' },
      body: { [`Bearer ${REDACTED}`]: { seen: [REDACTED, 1, true, null] } },
    });
    expect(input).toEqual(before);
  });

  it('ignores case: HTTP lower-cases header names', () => {
    const out = redactSecrets({ [`x-echo-${TOKEN.toLowerCase()}`]: TOKEN.toUpperCase() }, [TOKEN]);
    expect(out).toEqual({ [`x-echo-${REDACTED}`]: REDACTED });
  });

  it('keeps both members when two keys collapse to one name, without renaming the untouched key', () => {
    const out = redactSecrets({ [`Bearer ${TOKEN}`]: 1, [`Bearer ${REDACTED}`]: 2, [`Bearer ${REDACTED} (2)`]: 3 }, [TOKEN]);
    expect(out).toEqual({ [`Bearer ${REDACTED}`]: 2, [`Bearer ${REDACTED} (2)`]: 3, [`Bearer ${REDACTED} (3)`]: 1 });
    const many = redactSecrets({ [`a${TOKEN}`]: 1, [`a${TOKEN.toLowerCase()}`]: 2, [`a${TOKEN.toUpperCase()}`]: 3 }, [TOKEN]);
    expect(Object.values(many).sort()).toEqual([1, 2, 3]);
    expect(Object.keys(many)).toEqual([`a${REDACTED}`, `a${REDACTED} (2)`, `a${REDACTED} (3)`]);
  });

  it('replaces the longest secret first and ignores secrets under 4 characters', () => {
    expect(redactSecrets('svc:pa55word and pa55word and abc', ['pa55word', 'svc:pa55word', 'abc'])).toBe(`${REDACTED} and ${REDACTED} and abc`);
    expect(redactSecrets('a.b*c(d)', ['.b*c('])).toBe(`a${REDACTED}d)`);
    const same = { a: 1 };
    expect(redactSecrets(same, ['abc'])).toBe(same);
  });

  it('keeps an own __proto__ key as a key', () => {
    const out = redactSecrets(JSON.parse(`{"__proto__": {"polluted": "${TOKEN}"}}`), [TOKEN]) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(JSON.stringify(out)).toBe(`{"__proto__":{"polluted":"${REDACTED}"}}`);
  });

  it('walks 100k levels deep without overflowing the stack', () => {
    let deep: unknown = TOKEN;
    for (let i = 0; i < 100_000; i++) deep = i % 2 ? [deep] : { [TOKEN]: deep };
    let out = redactSecrets(deep, [TOKEN]);
    for (let i = 100_000 - 1; i >= 0; i--) out = i % 2 ? (out as unknown[])[0] : (out as Record<string, unknown>)[REDACTED];
    expect(out).toBe(REDACTED);
  });

  it('never leaves the secret in any key or string, and never loses a member (property)', () => {
    const secret = 'S3cr3tT0k3n';
    const piece = fc.oneof(fc.constantFrom(secret, secret.toLowerCase(), REDACTED, ' (2)', 'Bearer '), fc.string({ maxLength: 4 }));
    const text = fc.array(piece, { maxLength: 4 }).map((parts) => parts.join(''));
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.constant(null), fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(text, tie('value'), { maxKeys: 5 })),
    })).value;
    const count = (v: unknown): number =>
      Array.isArray(v) ? v.reduce((n: number, x) => n + 1 + count(x), 0) : v && typeof v === 'object' ? Object.values(v).reduce((n: number, x) => n + 1 + count(x), 0) : 0;
    fc.assert(
      fc.property(json, (v) => {
        const out = redactSecrets(v, [secret]);
        expect(JSON.stringify(out).toLowerCase()).not.toContain(secret.toLowerCase());
        expect(count(out)).toBe(count(v));
      }),
    );
  });
});
