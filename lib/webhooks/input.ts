import type { JsonValue } from '../../db/types.js';
import { badRequest } from '../errors.js';

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
  return storable({ method: req.method, headers, query: multiMap(req.url.searchParams), body: parseBody(req.headers.get('content-type'), req.rawBody) });
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

export const MAX_BODY_DEPTH = 64;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Refuses what PostgreSQL's jsonb cannot hold (NUL, lone surrogates) or nesting no walk should follow. */
function storable(root: JsonValue): JsonValue {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) throw badRequest('NUL characters (\\u0000) cannot be stored: remove them.', undefined, 'nul_character');
      if (LONE_SURROGATE.test(value)) throw badRequest('Unpaired UTF-16 surrogates cannot be stored.', undefined, 'invalid_unicode');
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_BODY_DEPTH) throw badRequest(`JSON nested deeper than ${MAX_BODY_DEPTH} levels is refused.`, undefined, 'too_deep');
    for (const [key, child] of Object.entries(value)) stack.push([key, depth + 1], [child, depth + 1]);
  }
  return root;
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
