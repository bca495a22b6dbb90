import type { ErrorJson } from '../../db/types.js';

/** Failures that would fail the same way again: no retry, whatever the node's retry policy. */
const PERMANENT = new Set([
  'invalid_params',
  'expression_error',
  'expression_timeout',
  'output_too_large',
  'invalid_output',
  'ssrf_blocked',
  'invalid_url',
  'credential_missing',
  'credential_type',
  'response_too_large',
  'unknown_type',
  'too_many_redirects',
  'llm_auth',
  'llm_request',
  'llm_bad_response',
  'workflow_not_found',
  'max_depth_exceeded',
  'input_too_large',
]);

export class NodeError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'NodeError';
  }
}

export interface ClassifiedError {
  error: ErrorJson;
  retryable: boolean;
}

/** Every error a node can raise becomes `{code, message}`; `code` comes from the error when it has one. */
export function classifyError(err: unknown): ClassifiedError {
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'provider_error';
  const message = err instanceof Error ? err.message : String(err);
  return { error: { code, message: message.slice(0, 2000) }, retryable: !PERMANENT.has(code) };
}

/** Replaces every occurrence of a secret in strings anywhere inside `value`. */
export function redactSecrets<T>(value: T, secrets: readonly string[]): T {
  const usable = secrets.filter((s) => s.length >= 4);
  if (usable.length === 0) return value;
  const scrub = (v: unknown): unknown => {
    if (typeof v === 'string') return usable.reduce((acc, s) => acc.split(s).join('[redacted]'), v);
    if (Array.isArray(v)) return v.map(scrub);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrub(x)]));
    return v;
  };
  return scrub(value) as T;
}
