import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialResolver } from '../../../lib/credentials/resolver.js';
import { createKeyring } from '../../../lib/crypto.js';
import { startStack, type TestStack } from '../../../test/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({ workers: false });
});
afterAll(() => stack.close());

const create = (name: string, type: string, data: unknown) => stack.request('POST', '/v1/credentials', { body: { name, type, data } });
const decrypted = async (name: string) => {
  const { id } = await stack.db.selectFrom('workspaces').select('id').orderBy('created_at').executeTakeFirstOrThrow();
  return credentialResolver(stack.db, createKeyring(stack.config.ENCRYPTION_KEYS))(id, name);
};

describe('integration credential types', () => {
  it('stores smtp data with its JSON types (port a number, secure a boolean) and shows host and port', async () => {
    const made = await create('mail', 'smtp', { host: 'smtp.example.test', port: 465, secure: true, username: 'bot', password: 'smtp-pass-77aa11' });
    expect(made.status).toBe(201);
    expect(made.body.hints).toEqual({ host: 'smtp.example.test', port: '465', secure: 'true', username: 'bot', password: 'smtp-…aa11' });
    expect(JSON.stringify(made.body)).not.toContain('smtp-pass-77aa11');
    expect(await decrypted('mail')).toEqual({ type: 'smtp', data: { host: 'smtp.example.test', port: 465, secure: true, username: 'bot', password: 'smtp-pass-77aa11' } });
  });

  it('stores slack (webhook or bot token) and anthropic credentials', async () => {
    expect((await create('hook', 'slack', { webhookUrl: 'https://hooks.slack.com/services/T0/B0/abcdefgh1234' })).status).toBe(201);
    expect((await create('bot', 'slack', { botToken: 'xoxb-123-456-abcdefgh' })).status).toBe(201);
    const claude = await create('claude', 'anthropic', { apiKey: 'sk-ant-api03-abcdefgh', baseUrl: 'https://api.anthropic.com' });
    expect(claude.status).toBe(201);
    expect(claude.body.hints).toEqual({ apiKey: 'sk-…efgh', baseUrl: 'https://api.anthropic.com' });
  });

  it('answers 400 naming the missing fields', async () => {
    const smtp = await create('mail-bad', 'smtp', { username: 'bot' });
    expect(smtp.status).toBe(400);
    expect(smtp.body.error.code).toBe('validation_failed');
    expect(smtp.body.error.message).toBe('data does not fit a smtp credential: missing host, port');
    expect(smtp.body.error.details.map((d: { pointer: string }) => d.pointer)).toEqual(expect.arrayContaining(['/data/host', '/data/port']));
    const anthropic = await create('claude-bad', 'anthropic', {});
    expect([anthropic.status, anthropic.body.error.message]).toEqual([400, 'data does not fit a anthropic credential: missing apiKey']);
  });

  it('refuses wrong JSON types, unknown fields and a slack credential with neither or both ways to post', async () => {
    for (const [type, data] of [
      ['smtp', { host: 'h', port: '25' }],
      ['smtp', { host: 'h', port: 25, secure: 'yes' }],
      ['smtp', { host: 'h', port: 70000 }],
      ['smtp', { host: 'h', port: 25, extra: 1 }],
      ['slack', {}],
      ['slack', { webhookUrl: 'https://hooks.slack.com/x', botToken: 'xoxb-1' }],
      ['slack', { webhookUrl: 'not a url' }],
      ['anthropic', { apiKey: 42 }],
      ['bearer', { token: 123 }],
    ] as const) {
      const res = await create('bad', type, data);
      expect([type, JSON.stringify(data), res.status]).toEqual([type, JSON.stringify(data), 400]);
    }
  });

  it('replaces data with the same checks', async () => {
    const { body } = await create('mail-2', 'smtp', { host: 'a.example.test', port: 25 });
    expect((await stack.request('PUT', `/v1/credentials/${body.id}`, { body: { data: { host: 'b.example.test' } } })).status).toBe(400);
    expect((await stack.request('PUT', `/v1/credentials/${body.id}`, { body: { data: { host: 'b.example.test', port: 587 } } })).status).toBe(200);
    expect((await decrypted('mail-2'))!.data).toEqual({ host: 'b.example.test', port: 587 });
  });
});
