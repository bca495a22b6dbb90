import { splitTemplate } from '../../../templates.js';
import { translateValue } from '../expressions.js';
import { translateJsonText } from '../json-text.js';
import { asArray, asRecord, type MapContext, type MapResult, type OutputShape } from '../types.js';

/**
 * HTTP Request → `http.request`. Versions 1–2 (`requestMethod`, `*ParametersUi`, `jsonParameters`)
 * and 3–4 (`method`, `send*`/`specify*`, `*Parameters.parameters`, `json*`). n8n's item is the
 * response body (or `{body, headers, statusCode}` with "full response"); Conveyor's output is
 * `{status, headers, body}`, which is where expressions downstream are pointed.
 */

/** n8n generic credential types → Conveyor credential types http.request applies. */
const AUTH_TYPES: Record<string, string | null> = {
  httpBasicAuth: 'basic',
  httpHeaderAuth: 'header',
  httpBearerAuth: 'bearer',
  httpDigestAuth: null,
  httpQueryAuth: null,
  httpCustomAuth: null,
  oAuth1Api: null,
  oAuth2Api: null,
};
/** HTTP Request v1's `authentication` values → n8n credential types. */
const V1_AUTH: Record<string, string> = { basicAuth: 'httpBasicAuth', headerAuth: 'httpHeaderAuth', digestAuth: 'httpDigestAuth', oAuth1: 'oAuth1Api', oAuth2: 'oAuth2Api' };

const pairs = (list: unknown) => asArray(list).map(asRecord).filter((p) => typeof p.name === 'string' && p.name !== '');

export function httpRequestNode(ctx: MapContext): MapResult {
  const { p } = ctx;
  const legacy = ctx.version < 3;
  // A copy: the export is never modified.
  const options: Record<string, unknown> = { ...asRecord(p.options) };
  const params: Record<string, unknown> = {
    method: String((legacy ? p.requestMethod : p.method) ?? 'GET').toUpperCase(),
    url: translateValue(p.url ?? '', ctx.scope, 'url', ctx.problems),
  };
  const keyed = (list: unknown, at: string, stringValues: boolean) =>
    Object.fromEntries(pairs(list).map((q) => {
      const v = translateValue(q.value ?? '', ctx.scope, `${at}.${q.name}`, ctx.problems);
      return [String(q.name), stringValues && typeof v !== 'string' ? String(v ?? '') : v];
    }));
  const headers: Record<string, unknown> = {};
  let query: unknown;
  let body: unknown;
  let contentType: string | undefined;

  if (legacy) {
    if (p.jsonParameters === true) {
      if (p.queryParametersJson !== undefined) query = translateJsonText(p.queryParametersJson, ctx.scope, 'queryParametersJson', ctx.problems);
      if (p.headerParametersJson !== undefined) Object.assign(headers, asRecord(translateJsonText(p.headerParametersJson, ctx.scope, 'headerParametersJson', ctx.problems)));
      if (p.bodyParametersJson !== undefined) body = translateJsonText(p.bodyParametersJson, ctx.scope, 'bodyParametersJson', ctx.problems);
    } else {
      if (asRecord(p.queryParametersUi).parameter) query = keyed(asRecord(p.queryParametersUi).parameter, 'queryParametersUi', false);
      Object.assign(headers, keyed(asRecord(p.headerParametersUi).parameter, 'headerParametersUi', true));
      if (asRecord(p.bodyParametersUi).parameter) body = keyed(asRecord(p.bodyParametersUi).parameter, 'bodyParametersUi', false);
    }
    const bodyType = options.bodyContentType;
    if (bodyType === 'multipart-form-data') return { unconvertible: 'multipart form bodies have no http.request equivalent' };
    if (bodyType === 'form-urlencoded' && body && typeof body === 'object') {
      body = formBody(body as Record<string, unknown>);
      contentType = 'application/x-www-form-urlencoded';
    }
    if (bodyType === 'raw' && p.body !== undefined) body = translateValue(p.body, ctx.scope, 'body', ctx.problems);
    if (p.responseFormat === 'file') return { unconvertible: 'a file (binary) response has no Conveyor equivalent' };
  } else {
    if (p.sendQuery === true) query = p.specifyQuery === 'json' ? translateJsonText(p.jsonQuery ?? '{}', ctx.scope, 'jsonQuery', ctx.problems) : keyed(asRecord(p.queryParameters).parameters, 'queryParameters', false);
    if (p.sendHeaders === true) {
      Object.assign(headers, p.specifyHeaders === 'json' ? asRecord(translateJsonText(p.jsonHeaders ?? '{}', ctx.scope, 'jsonHeaders', ctx.problems)) : keyed(asRecord(p.headerParameters).parameters, 'headerParameters', true));
    }
    if (p.sendBody === true) {
      const type = String(p.contentType ?? 'json');
      if (type === 'json') {
        body = p.specifyBody === 'json' ? translateJsonText(p.jsonBody ?? '{}', ctx.scope, 'jsonBody', ctx.problems) : keyed(asRecord(p.bodyParameters).parameters, 'bodyParameters', false);
      } else if (type === 'form-urlencoded') {
        body = p.specifyBody === 'string' ? translateValue(p.body ?? '', ctx.scope, 'body', ctx.problems) : formBody(keyed(asRecord(p.bodyParameters).parameters, 'bodyParameters', false));
        contentType = 'application/x-www-form-urlencoded';
      } else if (type === 'raw') {
        body = translateValue(p.body ?? '', ctx.scope, 'body', ctx.problems);
        if (typeof p.rawContentType === 'string' && p.rawContentType) contentType = p.rawContentType;
      } else {
        return { unconvertible: `the body type '${type}' (files and multipart forms) has no http.request equivalent` };
      }
    }
    const response = asRecord(asRecord(options.response).response);
    if (response.responseFormat === 'file') return { unconvertible: 'a file (binary) response has no Conveyor equivalent' };
    if (options.pagination !== undefined) return { unconvertible: 'n8n pagination loops over requests; Conveyor has no equivalent node' };
    Object.assign(options, { fullResponse: response.fullResponse, neverError: response.neverError });
  }
  if (contentType && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = contentType;
  if (Object.keys(headers).length > 0) params.headers = headers;
  if (query !== undefined && !(typeof query === 'object' && query && Object.keys(query).length === 0)) params.query = query;
  if (body !== undefined) params.body = body;
  if (options.neverError === true) params.ignoreStatus = true;
  for (const ignored of ['proxy', 'allowUnauthorizedCerts', 'redirect', 'batching', 'lowercaseHeaders']) {
    if (options[ignored] !== undefined) ctx.warn(`option '${ignored}' is not carried over`);
  }

  const credential = authentication(ctx, legacy);
  const timeout = Number(options.timeout);
  const output: OutputShape = options.fullResponse === true ? { base: `nodes.${ctx.id}.output`, rename: { statusCode: 'status' } } : { base: `nodes.${ctx.id}.output.body` };
  return {
    type: 'http.request',
    params,
    ...(credential ? { credential } : {}),
    ...(Number.isInteger(timeout) && timeout > 0 ? { timeoutMs: Math.min(timeout, 86_400_000) } : {}),
    output,
  };
}

/** `a=1&b={{ x }}` with each value URL-encoded, literal or computed. */
function formBody(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([k, v]) => {
      const text = typeof v === 'string' ? v : JSON.stringify(v ?? '');
      const value = splitTemplate(text)
        .map((part) => (part.kind === 'expr' ? `{{ $encodeUrlComponent($string(${part.source})) }}` : encodeURIComponent(part.text)))
        .join('');
      return `${encodeURIComponent(k)}=${value}`;
    })
    .join('&');
}

function authentication(ctx: MapContext, legacy: boolean): string | undefined {
  const auth = String(ctx.p.authentication ?? 'none');
  if (auth === 'none') return undefined;
  let n8nType: string | undefined;
  if (auth === 'genericCredentialType') n8nType = String(ctx.p.genericAuthType ?? '');
  else if (auth === 'predefinedCredentialType') n8nType = String(ctx.p.nodeCredentialType ?? '');
  else if (legacy) n8nType = V1_AUTH[auth];
  if (!n8nType) return undefined;
  const conveyorType = AUTH_TYPES[n8nType] ?? null;
  if (conveyorType === null) ctx.warn(`its ${n8nType} credential has no Conveyor type http.request can apply (bearer, basic, header): create '${ctx.node.credentials?.[n8nType]?.name ?? n8nType}' as one of those, or call the API another way`);
  return ctx.credential(n8nType, conveyorType);
}
