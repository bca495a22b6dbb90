import type { JsonValue } from '../../db/types.js';
import { badRequest } from '../errors.js';
import { assertStorable } from '../json-storable.js';

/**
 * A webhook request as a run's input: `{method, headers, query, body}`. Credentials the caller
 * sent (Authorization, cookies) and the signature are dropped: the input is stored and shown.
 */
export const DROPPED_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-signature']);

export interface WebhookRequest {
  method: string;
  headers: Headers;
  url: URL;
  rawBody: Uint8Array;
}

export function webhookInput(req: WebhookRequest): JsonValue {
  const headers: Record<string, string> = {};
  req.headers.forEach((value, name) => {
    if (!DROPPED_HEADERS.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
  });
  const input: JsonValue = { method: req.method, headers, query: multiMap(req.url.searchParams), body: parseBody(req.headers.get('content-type'), req.rawBody) };
  // The API's rule (lib/json-storable.ts) over the whole input: a bad body number is a 400 at /body/…
  assertStorable(input);
  return input;
}

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;
const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(;|$)/i;

/** JSON → its value, form-urlencoded → an object, anything else → the text; no body → null. */
export function parseBody(contentType: string | null, raw: Uint8Array): JsonValue {
  if (raw.byteLength === 0) return null;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw badRequest('The webhook body is not valid UTF-8 text.', undefined, 'invalid_utf8');
  }
  const type = contentType ?? '';
  if (JSON_TYPE.test(type)) {
    let value: JsonValue;
    try {
      value = JSON.parse(text) as JsonValue;
    } catch (err) {
      throw badRequest(`The webhook body is declared JSON but does not parse: ${(err as Error).message.slice(0, 200)}`, undefined, 'malformed_json');
    }
    return value;
  }
  return FORM_TYPE.test(type) ? multiMap(new URLSearchParams(text)) : text;
}

/** Repeated keys become arrays (`?tag=a&tag=b` → `{tag: ["a","b"]}`). */
function multiMap(params: URLSearchParams): { [key: string]: string | string[] } {
  const out: { [key: string]: string | string[] } = {};
  for (const [key, value] of params) {
    const prev = out[key];
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}
