import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signBody, verifySignature } from './webhook-signature.js';

const secret = 'whsec-0123456789abcdef';
const body = Buffer.from('{ "order": 42, "note": "h\u00e9" }');

describe('webhook signatures', () => {
  it('accepts the HMAC-SHA256 of the raw body, in either hex case', () => {
    const hex = createHmac('sha256', secret).update(body).digest('hex');
    expect(signBody(secret, body)).toBe(`sha256=${hex}`);
    expect(verifySignature(`sha256=${hex}`, body, secret)).toBe(true);
    expect(verifySignature(`sha256=${hex.toUpperCase()}`, body, secret)).toBe(true);
    expect(verifySignature(` sha256=${hex} `, body, secret)).toBe(true);
  });

  it('refuses another body, another secret, and malformed or missing headers', () => {
    const good = signBody(secret, body);
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString())));
    expect(reserialised.equals(body)).toBe(false);
    for (const [header, raw, key] of [
      [good, Buffer.concat([body, Buffer.from(' ')]), secret],
      [good, reserialised, secret],
      [good, body, `${secret}x`],
      [undefined, body, secret],
      [null, body, secret],
      ['', body, secret],
      [good.replace('sha256=', ''), body, secret],
      [good.replace('sha256=', 'sha1='), body, secret],
      [good.slice(0, -2), body, secret],
      [`${good}00`, body, secret],
      [good.replace(/.$/, 'z'), body, secret],
      [`${good},${good}`, body, secret],
    ] as const) {
      expect(verifySignature(header, raw, key), String(header)).toBe(false);
    }
  });
});
