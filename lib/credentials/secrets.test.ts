import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../engine/node-errors.js';
import { redactionValues } from './secrets.js';

describe('redactionValues', () => {
  it('covers the Basic header a target echoes, padded or not', () => {
    const credential = { type: 'basic' as const, data: { username: 'svc', password: 'pa55word!' } };
    const header = `Basic ${Buffer.from('svc:pa55word!').toString('base64')}`;
    const echoed = { headers: { authorization: header }, note: `saw ${header.replace(/=+$/, '')}` };
    expect(JSON.stringify(redactSecrets(echoed, redactionValues(credential)))).not.toMatch(/pa55word|c3ZjOnBhNTV3b3JkIQ/);
    // Without the derived form the encoded secret survives: what the engine records today.
    expect(JSON.stringify(redactSecrets(echoed, Object.values(credential.data)))).toContain('c3ZjOnBhNTV3b3JkIQ');
  });

  it('is the secret fields themselves for the other types, never the public ones', () => {
    expect(redactionValues({ type: 'bearer', data: { token: 'tok-123456' } })).toEqual(['tok-123456']);
    expect(redactionValues({ type: 'openai', data: { apiKey: 'sk-1234567', baseUrl: 'https://x.example/v1' } })).toEqual(['sk-1234567']);
    expect(redactionValues({ type: 'header', data: { name: 'X-Api-Key', value: 'k-99887766' } })).toEqual(['k-99887766']);
  });
});
