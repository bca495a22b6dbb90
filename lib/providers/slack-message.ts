import { z } from 'zod';
import { policyFor } from '../http/address-policy.js';
import { guardedRequest, parseUrl, redact } from '../http/guarded-request.js';
import { permanent, transient } from './errors.js';
import { defineProvider, type Json } from './types.js';

const DEFAULT_API = 'https://slack.com/api';

const params = z
  .object({
    text: z.string().min(1).max(40_000).describe('the message; with blocks, the notification fallback'),
    blocks: z.array(z.record(z.string(), z.unknown())).max(50).optional().describe('Block Kit blocks'),
    channel: z.string().min(1).max(256).optional().describe('channel id or #name: required with a bot token; a webhook posts to its own channel'),
    baseUrl: z.string().max(2048).optional().describe('Web API root for a bot token (default: the credential\'s, then https://slack.com/api)'),
  })
  .strict();

const apiAnswer = z.looseObject({ ok: z.boolean(), error: z.string().optional(), channel: z.string().optional(), ts: z.string().optional() });

/** Slack's own refusals that a retry cannot fix. */
const PERMANENT_ERRORS = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'channel_not_found', 'not_in_channel', 'is_archived', 'invalid_blocks', 'no_text', 'msg_too_long', 'missing_scope', 'restricted_action']);

export default defineProvider({
  type: 'slack.message',
  description: 'Posts a Slack message through an incoming webhook or chat.postMessage (credential `slack` {webhookUrl} or {botToken}). Output: {ok, channel, ts}.',
  params,
  credential: ['slack'],
  async run(ctx) {
    const { params: p, credential } = ctx;
    if (!credential) throw permanent('credential_missing', 'slack.message needs a slack credential: set the node\'s `credential`');
    const { webhookUrl, botToken, baseUrl } = credential.data;
    const message = { text: p.text, ...(p.blocks ? { blocks: p.blocks } : {}) };
    let url: string;
    let headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    let body: Record<string, unknown>;
    if (typeof botToken === 'string') {
      if (!p.channel) throw permanent('invalid_params', 'slack.message with a bot token needs `channel`');
      const root = (p.baseUrl ?? (typeof baseUrl === 'string' ? baseUrl : DEFAULT_API)).replace(/\/+$/, '');
      url = parseUrl(`${root}/chat.postMessage`).toString();
      headers = { ...headers, authorization: `Bearer ${botToken}` };
      body = { channel: p.channel, ...message };
    } else if (typeof webhookUrl === 'string') {
      url = parseUrl(webhookUrl).toString();
      body = { ...(p.channel ? { channel: p.channel } : {}), ...message };
    } else {
      throw permanent('credential_type', 'the slack credential has neither webhookUrl nor botToken');
    }
    // The webhook URL's path is its secret: errors name only the host.
    const where = typeof botToken === 'string' ? redact(url) : `${new URL(url).origin} (webhook)`;
    const res = await guardedRequest({
      method: 'POST',
      url,
      headers,
      body: JSON.stringify(body),
      signal: ctx.signal,
      policy: policyFor(ctx.settings.httpAllowHosts),
      maxResponseBytes: ctx.settings.maxResponseBytes,
      maxRedirects: 0,
    });
    const text = res.body.toString('utf8').slice(0, 300);
    if (res.status === 429 || res.status >= 500) throw transient('slack_status', `${where} answered ${res.status}`);
    if (res.status < 200 || res.status > 299) {
      // Webhooks answer 4xx with a reason code (invalid_token, channel_not_found, no_text); anything
      // else could quote the URL, whose path is the secret, so it is left out.
      const reason = /^[a-z_]{1,64}$/.test(text.trim()) ? `: ${text.trim()}` : '';
      throw permanent('slack_error', `${where} answered ${res.status}${reason}`);
    }
    if (typeof botToken !== 'string') return { ok: true, channel: p.channel ?? null, ts: null };
    let answer: z.infer<typeof apiAnswer>;
    try {
      answer = apiAnswer.parse(JSON.parse(res.body.toString('utf8')));
    } catch {
      throw transient('slack_bad_response', `${where} did not answer {ok: …} JSON`);
    }
    if (!answer.ok) {
      const code = answer.error ?? 'unknown_error';
      const message = `Slack refused the message: ${code.replace(/[^\w.-]/g, '')}`;
      throw PERMANENT_ERRORS.has(code) ? permanent('slack_error', message) : transient('slack_error', message);
    }
    return { ok: true, channel: (answer.channel ?? p.channel) as Json, ts: (answer.ts ?? null) as Json };
  },
});
