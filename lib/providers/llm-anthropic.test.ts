import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../../test/fake-llm.js';
import { callProvider, rejection, type CallOptions } from '../../test/provider-context.js';
import { classifyError } from '../engine/node-errors.js';
import { ANTHROPIC_VERSION } from './llm-anthropic.js';
import llmChat from './llm-chat.js';

const API_KEY = 'sk-ant-test-9d8c7b6a5f4e';
let llm: FakeLlm;
const messages = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi there' }];
const anthropic = (data: Record<string, string> = {}): CallOptions => ({
  credential: { type: 'anthropic', data: { apiKey: API_KEY, baseUrl: llm.baseUrl.replace(/\/v1$/, ''), ...data } },
  settings: { httpAllowHosts: ['127.0.0.1'] },
});
const chat = (params: Record<string, unknown>, opts = anthropic()) => callProvider(llmChat, { messages, ...params }, opts) as Promise<any>;

beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm.close());
beforeEach(() => {
  llm.requests.length = 0;
});

describe('llm.chat with an anthropic credential', () => {
  it('posts to the Messages API with x-api-key and anthropic-version; system messages become `system`', async () => {
    await chat({ model: 'claude-test', temperature: 0.5 });
    const [req] = llm.requests;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/v1/messages');
    expect(req!.headers['x-api-key']).toBe(API_KEY);
    expect(req!.headers['anthropic-version']).toBe(ANTHROPIC_VERSION);
    expect(req!.headers.authorization).toBeUndefined();
    expect(req!.body).toEqual({ model: 'claude-test', max_tokens: 1024, system: 'be brief', messages: [{ role: 'user', content: 'hi there' }], temperature: 0.5 });
  });

  it('sends maxTokens as max_tokens', async () => {
    await chat({ model: 'claude-test', maxTokens: 64 });
    expect(llm.requests[0]!.body.max_tokens).toBe(64);
  });

  it('keeps the output shape {content, usage, raw}', async () => {
    const out = await chat({ model: 'claude-test' });
    expect(out.content).toBe('echo: hi there');
    expect(out.usage).toEqual({ input_tokens: 3, output_tokens: 2 });
    expect(out.raw).toMatchObject({ id: 'msg_fake', type: 'message', stop_reason: 'end_turn' });
  });

  it('takes the API root from params, then the credential; with or without /v1', async () => {
    await chat({ model: 'm', baseUrl: llm.baseUrl }, anthropic({ baseUrl: 'http://10.9.9.9' }));
    await chat({ model: 'm' }, anthropic({ baseUrl: `${llm.baseUrl}/` }));
    expect(llm.requests.map((r) => r.path)).toEqual(['/v1/messages', '/v1/messages']);
  });

  it('maps error statuses like OpenAI\'s and never passes the key on', async () => {
    const cases: [string, string, boolean][] = [['status-401', 'llm_auth', false], ['status-400', 'llm_request', false], ['status-529', 'llm_status', true], ['status-429', 'llm_status', true], ['not-json', 'llm_bad_response', false], ['no-choices', 'llm_bad_response', false]];
    for (const [model, code, retryable] of cases) {
      const err = await rejection(chat({ model }));
      expect([model, err.code, classifyError(err).retryable]).toEqual([model, code, retryable]);
      expect(err.message).not.toContain(API_KEY);
    }
    expect((await rejection(chat({ model: 'redirect' }))).code).toBe('too_many_redirects');
  });

  it('refuses what the Messages API cannot take: tool messages, no user turn, temperature above 1', async () => {
    expect((await rejection(chat({ model: 'm', messages: [{ role: 'tool', content: 'x' }] }))).code).toBe('invalid_params');
    expect((await rejection(chat({ model: 'm', messages: [{ role: 'system', content: 'x' }] }))).code).toBe('invalid_params');
    expect((await rejection(chat({ model: 'm', temperature: 1.5 }))).code).toBe('invalid_params');
    expect(llm.requests).toHaveLength(0);
  });

  it('honours the abort signal', async () => {
    const ac = new AbortController();
    const pending = rejection(chat({ model: 'slow' }, { ...anthropic(), signal: ac.signal }));
    await new Promise((r) => setTimeout(r, 100));
    const reason = new Error('cancelled');
    ac.abort(reason);
    expect(await pending).toBe(reason);
  });
});
