import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../../test/fake-llm.js';
import { callProvider, rejection, type CallOptions } from '../../test/provider-context.js';
import { classifyError } from '../engine/node-errors.js';
import llmChat from './llm-chat.js';

const API_KEY = 'sk-test-4f9a0c2e7b1d';
let llm: FakeLlm;
const messages = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi there' }];

const options = (extra: Partial<CallOptions> = {}, data: Record<string, string> = { apiKey: API_KEY }): CallOptions => ({
  credential: { type: 'openai', data },
  settings: { httpAllowHosts: ['127.0.0.1'] },
  ...extra,
});
const chat = (params: Record<string, unknown>, opts: CallOptions = options()) =>
  callProvider(llmChat, { baseUrl: llm.baseUrl, messages, ...params }, opts) as Promise<any>;

beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm.close());
beforeEach(() => {
  llm.requests.length = 0;
});

describe('llm.chat request', () => {
  it('posts an OpenAI chat completion with the bearer key from the openai credential', async () => {
    await chat({ model: 'gpt-test', temperature: 0.2, maxTokens: 64 });
    expect(llm.requests).toHaveLength(1);
    const [req] = llm.requests;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/v1/chat/completions');
    expect(req!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.body).toEqual({ model: 'gpt-test', messages, temperature: 0.2, max_tokens: 64 });
  });

  it('leaves temperature and max_tokens out when not given', async () => {
    await chat({ model: 'gpt-test' });
    expect(llm.requests[0]!.body).toEqual({ model: 'gpt-test', messages });
  });

  it('takes baseUrl from params first, then from the credential; a trailing slash is fine', async () => {
    await callProvider(llmChat, { model: 'm', messages }, options({}, { apiKey: API_KEY, baseUrl: `${llm.baseUrl}/` }));
    expect(llm.requests[0]!.path).toBe('/v1/chat/completions');
    await callProvider(llmChat, { baseUrl: `${llm.baseUrl}/`, model: 'm', messages }, options({}, { apiKey: API_KEY, baseUrl: 'http://10.9.9.9/v1' }));
    expect(llm.requests).toHaveLength(2);
  });

  it('validates params: messages, roles, ranges', () => {
    const parse = (p: Record<string, unknown>) => llmChat.params.safeParse({ model: 'm', messages, ...p }).success;
    expect(parse({})).toBe(true);
    expect(parse({ messages: [] })).toBe(false);
    expect(parse({ messages: [{ role: 'wizard', content: 'x' }] })).toBe(false);
    expect(parse({ temperature: 2.5 })).toBe(false);
    expect(parse({ maxTokens: 0 })).toBe(false);
    expect(parse({ model: '' })).toBe(false);
    expect(parse({ extra: 1 })).toBe(false);
  });
});

describe('llm.chat output', () => {
  it('is {content, usage, raw}', async () => {
    const out = await chat({ model: 'gpt-test' });
    expect(out.content).toBe('echo: hi there');
    expect(out.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
    expect(out.raw).toMatchObject({ id: 'chatcmpl-fake', object: 'chat.completion', choices: [{ message: { content: 'echo: hi there' } }] });
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });

  it('gives empty content and null usage when the model answers without them', async () => {
    const out = await chat({ model: 'null-content' });
    expect(out).toMatchObject({ content: '', usage: null });
    expect(out.raw.choices[0].message.tool_calls).toEqual([]);
  });
});

describe('llm.chat errors', () => {
  it.each([401, 403])('%s is llm_auth and is not retried', async (status) => {
    const err = await rejection(chat({ model: `status-${status}` }));
    expect(err.code).toBe('llm_auth');
    expect(err.message).toContain(`answered ${status}`);
    expect(classifyError(err).retryable).toBe(false);
    expect(llm.requests).toHaveLength(1);
  });

  it.each([400, 404, 422])('%s is llm_request: the request is wrong, so it is not retried', async (status) => {
    const err = await rejection(chat({ model: `status-${status}` }));
    expect(err.code).toBe('llm_request');
    expect(classifyError(err).retryable).toBe(false);
  });

  it.each([500, 502, 503, 429, 408])('%s is llm_status and may be retried', async (status) => {
    const err = await rejection(chat({ model: `status-${status}` }));
    expect(err.code).toBe('llm_status');
    expect(err.message).toContain(`answered ${status}`);
    expect(classifyError(err).retryable).toBe(true);
  });

  it.each(['not-json', 'no-choices'])('a malformed answer (%s) is llm_bad_response, not retried', async (model) => {
    const err = await rejection(chat({ model }));
    expect(err.code).toBe('llm_bad_response');
    expect(classifyError(err).retryable).toBe(false);
  });

  it('never puts the API key in an error message, even when the server echoes it', async () => {
    for (const model of ['status-401', 'status-500', 'status-429', 'not-json', 'no-choices', 'redirect']) {
      const err = await rejection(chat({ model }));
      expect(err.message, model).not.toContain(API_KEY);
      expect(err.message, model).not.toContain(API_KEY.slice(3, 15));
    }
    const echoed = await rejection(chat({ model: 'status-500' }));
    expect(echoed.message).toContain('[redacted]'); // the body is still shown, minus the key
    // A key placed in the URL itself is not shown either.
    const inUrl = await rejection(callProvider(llmChat, { baseUrl: llm.baseUrl.replace('http://', `http://user:${API_KEY}@`), model: 'status-500', messages }, options()));
    expect(inUrl.message).not.toContain(API_KEY);
  });

  it('does not follow redirects (the key would go along)', async () => {
    const err = await rejection(chat({ model: 'redirect' }));
    expect(err.code).toBe('too_many_redirects');
    expect(llm.requests).toHaveLength(1);
  });

  it('needs an openai credential', async () => {
    const err = await rejection(chat({ model: 'm' }, { settings: { httpAllowHosts: ['127.0.0.1'] } }));
    expect(err.code).toBe('credential_missing');
    expect(llm.requests).toHaveLength(0);
  });

  it('goes through the SSRF guard', async () => {
    const err = await rejection(chat({ model: 'm' }, options({ settings: { httpAllowHosts: [] } })));
    expect(err.code).toBe('ssrf_blocked');
    expect(err.message).not.toContain(API_KEY);
    expect(llm.requests).toHaveLength(0);
  });

  it('honours the abort signal: rejects promptly and the server sees the connection go', async () => {
    const started = Date.now();
    const err = await rejection(chat({ model: 'slow' }, options({ signal: AbortSignal.timeout(300) })));
    expect(err.name).toBe('TimeoutError');
    expect(Date.now() - started).toBeLessThan(3_000);
    const deadline = Date.now() + 3_000;
    while (!llm.requests[0]?.aborted) {
      if (Date.now() > deadline) throw new Error('the fake never saw the abort');
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});
