import { z } from 'zod';
import { parseUrl, redact } from '../http/guarded-request.js';
import { permanent } from './errors.js';
import { badAnswer, postToModel } from './llm-answers.js';
import type { Json, ProviderContext } from './types.js';

const DEFAULT_BASE_URL = 'https://api.anthropic.com';
export const ANTHROPIC_VERSION = '2023-06-01';
export const DEFAULT_MAX_TOKENS = 1024;

export interface ChatParams {
  baseUrl?: string;
  model: string;
  messages: { role: string; content: string; name?: string }[];
  temperature?: number;
  maxTokens?: number;
}

const message = z.looseObject({
  content: z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
  usage: z.looseObject({}).optional(),
});

/**
 * llm.chat with an `anthropic` credential: the Messages API (`POST <root>/v1/messages`,
 * `x-api-key`, `anthropic-version`). System and developer messages become the top-level
 * `system`; the answer's text blocks, joined, are `content`. The root is like the SDK's
 * (https://api.anthropic.com); one ending in /v1 works too.
 */
export async function anthropicChat(ctx: ProviderContext<ChatParams>, apiKey: string, credentialBaseUrl: string | undefined): Promise<Json> {
  const p = ctx.params;
  const root = (p.baseUrl ?? credentialBaseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '').replace(/\/v1$/, '');
  const url = parseUrl(`${root}/v1/messages`).toString();
  const system = p.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => m.content);
  const turns = p.messages.filter((m) => m.role !== 'system' && m.role !== 'developer');
  const tool = turns.find((m) => m.role !== 'user' && m.role !== 'assistant');
  if (tool) throw permanent('invalid_params', `the Anthropic Messages API takes user and assistant messages (and system ones), not '${tool.role}'`);
  if (p.temperature !== undefined && p.temperature > 1) throw permanent('invalid_params', `Anthropic takes a temperature from 0 to 1, not ${p.temperature}`);
  if (turns.length === 0) throw permanent('invalid_params', 'the Anthropic Messages API needs at least one user message');
  const raw = await postToModel(
    ctx,
    url,
    { 'x-api-key': apiKey, 'anthropic-version': ANTHROPIC_VERSION },
    {
      model: p.model,
      max_tokens: p.maxTokens ?? DEFAULT_MAX_TOKENS,
      messages: turns.map((m) => ({ role: m.role, content: m.content })),
      ...(system.length ? { system: system.join('\n\n') } : {}),
      ...(p.temperature === undefined ? {} : { temperature: p.temperature }),
    },
    apiKey,
  );
  const parsed = message.safeParse(raw);
  if (!parsed.success) throw badAnswer(`${redact(url)} answered without a content list`);
  const content = parsed.data.content.flatMap((b) => (b.type === 'text' && b.text !== undefined ? [b.text] : [])).join('');
  return { content, usage: (parsed.data.usage ?? null) as Json, raw: raw as Json };
}
