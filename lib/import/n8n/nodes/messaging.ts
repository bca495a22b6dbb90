import { translateValue } from '../expressions.js';
import { translateJsonText } from '../json-text.js';
import { asArray, asRecord, locatorValue, type MapContext, type MapResult } from '../types.js';

/** Slack "post message" (v1 `channel`; v2+ `select` channel/user with resource locators) → `slack.message`. */
export function slackNode(ctx: MapContext): MapResult {
  const { p } = ctx;
  const resource = String(p.resource ?? 'message');
  const operation = String(p.operation ?? 'post');
  if (resource !== 'message' || operation !== 'post') return { unconvertible: `Slack ${resource} ${operation}: only posting a message converts` };
  const params: Record<string, unknown> = {};
  const channel = ctx.version < 2 ? p.channel : locatorValue(p.select === 'user' ? p.user : p.channelId);
  if (channel !== undefined && channel !== '') params.channel = translateValue(channel, ctx.scope, 'channel', ctx.problems);
  params.text = translateValue(p.text ?? '', ctx.scope, 'text', ctx.problems);
  const messageType = String(p.messageType ?? 'text');
  if (messageType === 'block' || (ctx.version < 2 && typeof p.blocksUi === 'string')) {
    const blocks = translateJsonText(p.blocksUi ?? '[]', ctx.scope, 'blocksUi', ctx.problems);
    const list = blocks && typeof blocks === 'object' && !Array.isArray(blocks) && 'blocks' in blocks ? (blocks as { blocks: unknown }).blocks : blocks;
    if (list !== undefined) params.blocks = list;
  } else if (messageType === 'attachment' || asArray(p.attachments).length > 0) {
    return { unconvertible: 'Slack attachments have no slack.message equivalent (use blocks)' };
  }
  if (params.text === '') params.text = ' ';
  const credentialType = p.authentication === 'oAuth2' ? 'slackOAuth2Api' : 'slackApi';
  const credential = ctx.credential(credentialType, 'slack');
  return { type: 'slack.message', params, ...(credential ? { credential } : {}), output: { base: `nodes.${ctx.id}.output` } };
}

/** Send Email (v1, v2: `emailFormat`, cc/bcc in options) → `email.send`. */
export function emailNode(ctx: MapContext): MapResult {
  const { p } = ctx;
  const operation = String(p.operation ?? 'send');
  if (operation !== 'send') return { unconvertible: `Send Email '${operation}' (waiting for a reply) has no email.send equivalent` };
  const options = asRecord(p.options);
  if (options.attachments || p.attachments) return { unconvertible: 'email attachments (n8n binary data) have no email.send equivalent' };
  const t = (v: unknown, at: string) => translateValue(v, ctx.scope, at, ctx.problems);
  const params: Record<string, unknown> = { from: t(p.fromEmail ?? '', 'fromEmail'), to: t(p.toEmail ?? '', 'toEmail'), subject: t(p.subject ?? '', 'subject') };
  const cc = ctx.version < 2 ? p.ccEmail : options.ccEmail;
  const bcc = ctx.version < 2 ? p.bccEmail : options.bccEmail;
  if (cc) params.cc = t(cc, 'ccEmail');
  if (bcc) params.bcc = t(bcc, 'bccEmail');
  if (ctx.version < 2) {
    if (p.text) params.text = t(p.text, 'text');
    if (p.html) params.html = t(p.html, 'html');
    if (!p.text && !p.html) params.text = '';
  } else {
    const format = String(p.emailFormat ?? (ctx.version >= 2.1 ? 'html' : 'text'));
    if (format === 'text' || format === 'both') params.text = t(p.text ?? '', 'text');
    if (format === 'html' || format === 'both') params.html = t(p.html ?? '', 'html');
  }
  if (options.replyTo) ctx.warn('its reply-to address is not carried over');
  const credential = ctx.credential('smtp', 'smtp');
  return { type: 'email.send', params, ...(credential ? { credential } : {}), output: { base: `nodes.${ctx.id}.output` } };
}

/**
 * OpenAI chat → `llm.chat`: the LangChain "OpenAI" node (text → message) and the legacy
 * n8n-nodes-base.openAi (chat → complete). Their simplified item is the first choice, which is
 * where `$json` downstream points (`raw.choices[0]`).
 */
export function openAiNode(ctx: MapContext): MapResult {
  const { p } = ctx;
  const langchain = ctx.node.type.startsWith('@n8n/');
  const resource = String(p.resource ?? (langchain ? 'text' : 'text'));
  const operation = String(p.operation ?? (langchain ? 'message' : 'complete'));
  let messages: unknown[];
  let model: unknown;
  if (langchain && resource === 'text' && operation === 'message') {
    model = locatorValue(p.modelId);
    messages = asArray(asRecord(p.messages).values);
  } else if (!langchain && resource === 'chat' && operation === 'complete') {
    model = p.chatModel ?? p.model ?? 'gpt-3.5-turbo';
    messages = asArray(asRecord(p.prompt).messages);
  } else {
    return { unconvertible: `OpenAI ${resource} ${operation}: only chat messages convert` };
  }
  const options = asRecord(p.options);
  const params: Record<string, unknown> = {
    model: translateValue(model ?? 'gpt-4o-mini', ctx.scope, 'model', ctx.problems),
    messages: messages.map(asRecord).map((m, i) => ({ role: String(m.role ?? 'user'), content: translateValue(m.content ?? '', ctx.scope, `messages[${i}].content`, ctx.problems) })),
  };
  if (typeof options.temperature === 'number') params.temperature = options.temperature;
  const maxTokens = options.maxTokens ?? options.max_tokens;
  if (typeof maxTokens === 'number' && maxTokens > 0) params.maxTokens = maxTokens;
  if (messages.length === 0) return { unconvertible: 'it sends no message' };
  const credential = ctx.credential('openAiApi', 'openai');
  return { type: 'llm.chat', params, ...(credential ? { credential } : {}), output: { base: `nodes.${ctx.id}.output.raw.choices[0]` } };
}
