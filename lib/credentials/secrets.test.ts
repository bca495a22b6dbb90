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

  it('covers the integration types: smtp (never host or port; AUTH\'s base64 forms), slack (the webhook path), anthropic', () => {
    const smtp = redactionValues({ type: 'smtp', data: { host: 'smtp.example.test', port: 587, secure: false, username: 'bot', password: 'pw-123456' } });
    expect(smtp).toEqual(expect.arrayContaining(['pw-123456', Buffer.from('pw-123456').toString('base64'), Buffer.from('\0bot\0pw-123456').toString('base64')]));
    expect(smtp).not.toContain('smtp.example.test');
    expect(smtp.some((v) => v === '587' || v === 'bot')).toBe(false);
    const hook = redactionValues({ type: 'slack', data: { webhookUrl: 'https://hooks.slack.com/services/T01/B02/s3cr3tPathToken0001' } });
    expect(hook).toEqual(['https://hooks.slack.com/services/T01/B02/s3cr3tPathToken0001', '/services/T01/B02/s3cr3tPathToken0001', 's3cr3tPathToken0001']);
    expect(redactionValues({ type: 'slack', data: { botToken: 'xoxb-1-2-abc' } })).toEqual(['xoxb-1-2-abc']);
    expect(redactionValues({ type: 'anthropic', data: { apiKey: 'sk-ant-123456', baseUrl: 'https://api.anthropic.com' } })).toEqual(['sk-ant-123456']);
  });
});
