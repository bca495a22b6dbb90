import { z } from 'zod';
import { parseUrl, redact } from '../http/guarded-request.js';
import { permanent } from './errors.js';
import { anthropicChat } from './llm-anthropic.js';
import { badAnswer, postToModel } from './llm-answers.js';
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
    baseUrl: z.string().max(2048).optional().describe('API root, e.g. https://api.openai.com/v1 or https://api.anthropic.com (default: the credential\'s, then the vendor\'s)'),
    model: z.string().min(1).max(256),
    messages: z.array(message).min(1).max(1000),
    temperature: z.number().min(0).max(2).optional(),
    maxTokens: z.number().int().min(1).max(1_000_000).optional().describe('sent as max_tokens; Anthropic needs one: default 1024'),
  })
  .strict();

const completion = z.looseObject({
  choices: z.array(z.looseObject({ message: z.looseObject({ content: z.string().nullable().optional() }) })).min(1),
  usage: z.looseObject({}).optional(),
});

export default defineProvider({
  type: 'llm.chat',
  description: 'A chat completion: OpenAI-compatible with an `openai` credential, the Anthropic Messages API with an `anthropic` one ({apiKey, baseUrl?}). Output: {content, usage, raw}.',
  params,
  credential: ['openai', 'anthropic'],
  queue: 'llm',
  async run(ctx) {
    const { params: p, credential } = ctx;
    if (!credential) throw permanent('credential_missing', 'llm.chat needs an openai or anthropic credential: set the node\'s `credential`');
    const apiKey = String(credential.data.apiKey);
    const credentialBase = credential.data.baseUrl === undefined ? undefined : String(credential.data.baseUrl);
    if (credential.type === 'anthropic') return anthropicChat(ctx, apiKey, credentialBase);
    if (credential.type !== 'openai') throw permanent('credential_type', `llm.chat cannot use a ${credential.type} credential`);
    const base = (p.baseUrl ?? credentialBase ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    const url = parseUrl(`${base}/chat/completions`).toString();
    const raw = await postToModel(
      ctx,
      url,
      { authorization: `Bearer ${apiKey}` },
      {
        model: p.model,
        messages: p.messages,
        ...(p.temperature === undefined ? {} : { temperature: p.temperature }),
        ...(p.maxTokens === undefined ? {} : { max_tokens: p.maxTokens }),
      },
      apiKey,
    );
    const parsed = completion.safeParse(raw);
    if (!parsed.success) throw badAnswer(`${redact(url)} answered without choices[0].message`);
    return { content: parsed.data.choices[0]!.message.content ?? '', usage: (parsed.data.usage ?? null) as Json, raw: raw as Json };
  },
});
