import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { callProvider, rejection, type CallOptions } from '../../test/provider-context.js';
import { startTargetServer, type TargetServer } from '../../test/target-server.js';
import { classifyError } from '../engine/node-errors.js';
import slackMessage from './slack-message.js';

const BOT_TOKEN = 'xoxb-1111-2222-secretbot';
const HOOK_PATH = '/services/T000/B000/hooksecretXYZ123';
let slack: TargetServer;
const local = { httpAllowHosts: ['127.0.0.1'] };
const bot = (extra: Record<string, string> = {}): CallOptions => ({ credential: { type: 'slack', data: { botToken: BOT_TOKEN, baseUrl: `${slack.url}/api`, ...extra } }, settings: local });
const hook = (path = HOOK_PATH): CallOptions => ({ credential: { type: 'slack', data: { webhookUrl: `${slack.url}${path}` } }, settings: local });

beforeAll(async () => {
  slack = await startTargetServer();
  // A fake Slack: chat.postMessage answers {ok} by the channel; the webhook answers "ok" or a plain-text error.
  slack.route('POST', '/api/chat.postMessage', (req, res) => {
    const body = JSON.parse(req.body);
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.headers.authorization !== `Bearer ${BOT_TOKEN}`) return void res.end(JSON.stringify({ ok: false, error: 'invalid_auth' }));
    if (body.channel === '#missing') return void res.end(JSON.stringify({ ok: false, error: 'channel_not_found' }));
    if (body.channel === '#busy') return void res.end(JSON.stringify({ ok: false, error: 'internal_error' }));
    res.end(JSON.stringify({ ok: true, channel: 'C123', ts: '1700000000.000100', message: { text: body.text } }));
  });
  slack.route('POST', HOOK_PATH, (_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  slack.route('POST', '/services/gone', (_req, res) => void res.writeHead(404, { 'content-type': 'text/plain' }).end('no_service'));
  slack.route('POST', '/services/limited', (_req, res) => void res.writeHead(429, { 'retry-after': '1' }).end('rate limited'));
});
afterAll(() => slack.close());
beforeEach(() => {
  slack.requests.length = 0;
});

describe('slack.message with a bot token', () => {
  it('posts chat.postMessage with the token, channel, text and blocks', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*down*' } }];
    const out = await callProvider(slackMessage, { text: 'API is down', blocks, channel: '#ops' }, bot());
    expect(out).toEqual({ ok: true, channel: 'C123', ts: '1700000000.000100' });
    const [req] = slack.requests;
    expect(req!.path).toBe('/api/chat.postMessage');
    expect(req!.headers.authorization).toBe(`Bearer ${BOT_TOKEN}`);
    expect(req!.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(req!.body)).toEqual({ channel: '#ops', text: 'API is down', blocks });
  });

  it('takes the API root from params before the credential', async () => {
    await callProvider(slackMessage, { text: 'x', channel: '#ops', baseUrl: `${slack.url}/api/` }, bot({ baseUrl: 'http://10.1.1.1/api' }));
    expect(slack.requests).toHaveLength(1);
  });

  it('needs a channel, and maps Slack\'s refusals: final ones are not retried', async () => {
    expect((await rejection(callProvider(slackMessage, { text: 'x' }, bot()))).code).toBe('invalid_params');
    const missing = await rejection(callProvider(slackMessage, { text: 'x', channel: '#missing' }, bot()));
    expect([missing.code, missing.message, classifyError(missing).retryable]).toEqual(['slack_error', 'Slack refused the message: channel_not_found', false]);
    const busy = await rejection(callProvider(slackMessage, { text: 'x', channel: '#busy' }, bot()));
    expect(classifyError(busy).retryable).toBe(true);
    const auth = await rejection(callProvider(slackMessage, { text: 'x', channel: '#ops' }, bot({ botToken: 'xoxb-wrong-token-000' })));
    expect(auth.message).toMatch(/invalid_auth/);
  });
});

describe('slack.message with an incoming webhook', () => {
  it('posts text (and channel) to the webhook URL', async () => {
    expect(await callProvider(slackMessage, { text: 'hello' }, hook())).toEqual({ ok: true, channel: null, ts: null });
    expect(slack.requests[0]!.path).toBe(HOOK_PATH);
    expect(JSON.parse(slack.requests[0]!.body)).toEqual({ text: 'hello' });
    expect(slack.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('fails on a non-2xx without naming the URL\'s secret path; 429 may be retried, 404 not', async () => {
    const gone = await rejection(callProvider(slackMessage, { text: 'x' }, hook('/services/gone')));
    expect([gone.code, classifyError(gone).retryable]).toEqual(['slack_error', false]);
    expect(gone.message).toBe(`${slack.url} (webhook) answered 404: no_service`);
    const limited = await rejection(callProvider(slackMessage, { text: 'x' }, hook('/services/limited')));
    expect([limited.code, classifyError(limited).retryable]).toEqual(['slack_status', true]);
    const errMessages = [gone.message, limited.message].join(' ');
    expect(errMessages).not.toContain('services');
  });

  it('keeps the SSRF guard: an internal webhook host outside HTTP_ALLOW_HOSTS is refused', async () => {
    const err = await rejection(callProvider(slackMessage, { text: 'x' }, { ...hook(), settings: { httpAllowHosts: [] } }));
    expect(err.code).toBe('ssrf_blocked');
    expect(slack.requests).toHaveLength(0);
  });

  it('validates params', () => {
    expect(slackMessage.params.safeParse({ text: '' }).success).toBe(false);
    expect(slackMessage.params.safeParse({ text: 'x', blocks: 'no' }).success).toBe(false);
    expect(slackMessage.params.safeParse({ text: 'x', extra: 1 }).success).toBe(false);
  });
});
