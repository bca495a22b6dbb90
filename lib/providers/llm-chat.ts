import { z } from 'zod';
import { NodeError } from '../engine/node-errors.js';
import { policyFor } from '../http/address-policy.js';
import { guardedRequest, parseUrl, redact } from '../http/guarded-request.js';
import { defineProvider, type Json } from './types.js';

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

const message = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'tool', 'developer']),
    content: z.string().max(1_000_000),
    name: z.string().max(64).optional(),
  })
  .strict();

const params = z
  .object({
    baseUrl: z.string().max(2048).optional().describe('OpenAI-compatible API root, e.g. https://api.openai.com/v1 (default: the credential\'s, then OpenAI)'),
    model: z.string().min(1).max(256),
    messages: z.array(message).min(1).max(1000),
    temperature: z.number().min(0).max(2).optional(),
    maxTokens: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

const completion = z.looseObject({
  choices: z.array(z.looseObject({ message: z.looseObject({ content: z.string().nullable().optional() }) })).min(1),
  usage: z.looseObject({}).optional(),
});

export default defineProvider({
  type: 'llm.chat',
  description: 'An OpenAI-compatible chat completion. Output: {content, usage, raw}. Takes an `openai` credential {apiKey, baseUrl?}.',
  params,
  credential: ['openai'],
  queue: 'llm',
  async run(ctx) {
    const { params: p, credential } = ctx;
    if (!credential) throw new NodeError('credential_missing', 'llm.chat needs an openai credential: set the node\'s `credential`');
    const base = (p.baseUrl ?? credential.data.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    const url = parseUrl(`${base}/chat/completions`).toString();
    const res = await guardedRequest({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${credential.data.apiKey}` },
      body: JSON.stringify({
        model: p.model,
        messages: p.messages,
        ...(p.temperature === undefined ? {} : { temperature: p.temperature }),
        ...(p.maxTokens === undefined ? {} : { max_tokens: p.maxTokens }),
      }),
      signal: ctx.signal,
      policy: policyFor(ctx.settings.httpAllowHosts),
      maxResponseBytes: ctx.settings.maxResponseBytes,
      maxRedirects: 0,
    });
    const text = res.body.toString('utf8');
    if (res.status < 200 || res.status > 299) {
      // Error bodies help (model not found, quota), but some servers echo the key back: never pass it on.
      const detail = scrub(text, credential.data.apiKey).slice(0, 300);
      // 401/403: the key; other 4xx but 408/409/429: the request itself (model, params): retrying cannot help.
      const code = res.status === 401 || res.status === 403 ? 'llm_auth' : res.status >= 400 && res.status < 500 && ![408, 409, 429].includes(res.status) ? 'llm_request' : 'llm_status';
      throw new NodeError(code, `${redact(url)} answered ${res.status}: ${detail}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new NodeError('llm_bad_response', `${redact(url)} did not answer JSON`);
    }
    const parsed = completion.safeParse(raw);
    if (!parsed.success) throw new NodeError('llm_bad_response', `${redact(url)} answered without choices[0].message`);
    return { content: parsed.data.choices[0]!.message.content ?? '', usage: (parsed.data.usage ?? null) as Json, raw: raw as Json };
  },
});

function scrub(text: string, secret: string | undefined): string {
  return secret && secret.length >= 4 ? text.split(secret).join('[redacted]') : text;
}
