import { policyFor } from '../http/address-policy.js';
import { guardedRequest, redact } from '../http/guarded-request.js';
import { ProviderError, permanent } from './errors.js';
import type { ProviderContext } from './types.js';

/**
 * POSTs a JSON body to a model API behind the SSRF guard (no redirects: a key must not follow
 * one) and returns its parsed JSON answer; a non-2xx or non-JSON answer is a node error.
 */
export async function postToModel(ctx: ProviderContext<unknown>, url: string, headers: Record<string, string>, body: unknown, apiKey: string): Promise<unknown> {
  const res = await guardedRequest({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: ctx.signal,
    policy: policyFor(ctx.settings.httpAllowHosts),
    maxResponseBytes: ctx.settings.maxResponseBytes,
    maxRedirects: 0,
  });
  const text = res.body.toString('utf8');
  if (res.status < 200 || res.status > 299) throw answerError(url, res.status, text, apiKey);
  try {
    return JSON.parse(text);
  } catch {
    throw badAnswer(`${redact(url)} did not answer JSON`);
  }
}

/**
 * A model API's non-2xx answer as a node error. Error bodies help (model not found, quota), but
 * some servers echo the key back: never pass it on. 401/403: the key (llm_auth); other 4xx but
 * 408/409/429: the request itself (llm_request); neither is retried. The rest (5xx, 429, 529
 * overloaded) is llm_status and may pass on a later attempt.
 */
export function answerError(url: string, status: number, body: string, secret: string): ProviderError {
  const detail = scrub(body, secret).slice(0, 300);
  const message = `${redact(url)} answered ${status}: ${detail}`;
  if (status === 401 || status === 403) return permanent('llm_auth', message);
  if (status >= 400 && status < 500 && ![408, 409, 429].includes(status)) return permanent('llm_request', message);
  return new ProviderError('llm_status', message, { retryable: true });
}

export const badAnswer = (message: string) => permanent('llm_bad_response', message);

function scrub(text: string, secret: string | undefined): string {
  return secret && secret.length >= 4 ? text.split(secret).join('[redacted]') : text;
}
