import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../providers/errors.js';
import { NodeError, REDACTED, classifyError, redactSecrets } from './node-errors.js';

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

describe('classifyError', () => {
  it('takes code and retryable from the provider, whatever the code', () => {
    expect(classifyError(new ProviderError('acme_quota', 'over quota', { retryable: true }))).toEqual({ error: { code: 'acme_quota', message: 'over quota' }, retryable: true });
    expect(classifyError(new ProviderError('acme_denied', 'no'))).toEqual({ error: { code: 'acme_denied', message: 'no' }, retryable: false });
    // A plain-object plugin needs no import: the same two fields on any thrown Error.
    expect(classifyError(Object.assign(new Error('gone'), { code: 'acme_gone', retryable: false })).retryable).toBe(false);
    expect(classifyError({ code: 'acme_obj', message: 'thrown object', retryable: true })).toEqual({ error: { code: 'acme_obj', message: 'thrown object' }, retryable: true });
  });

  it('never retries the engine\'s own permanent failures; retries anything else by default', () => {
    expect(classifyError(new NodeError('invalid_params', 'bad')).retryable).toBe(false);
    expect(classifyError(new NodeError('timeout', 'slow')).retryable).toBe(true);
    expect(classifyError(new Error('socket hang up'))).toEqual({ error: { code: 'provider_error', message: 'socket hang up' }, retryable: true });
    expect(classifyError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })).error.code).toBe('ECONNREFUSED');
  });

  it('names a thrown non-Error, and keeps odd codes out of the record', () => {
    expect(classifyError('just a string')).toEqual({ error: { code: 'non_error_thrown', message: 'the provider threw a non-Error value: "just a string"' }, retryable: true });
    expect(classifyError(42).error).toEqual({ code: 'non_error_thrown', message: 'the provider threw a non-Error value: 42' });
    expect(classifyError(undefined).error.code).toBe('non_error_thrown');
    expect(classifyError(null).error.code).toBe('non_error_thrown');
    expect(classifyError(10n).error.message).toMatch(/non-Error value/);
    expect(classifyError(Object.assign(new Error('x'), { code: 'has spaces and $ signs' })).error.code).toBe('provider_error');
    expect(classifyError(Object.assign(new Error('x'), { code: 'c'.repeat(65) })).error.code).toBe('provider_error');
  });
});
