import type { ErrorJson } from '../../db/types.js';
import { cleanText } from './storable-text.js';

/**
 * The engine's own failures that would fail the same way again: no retry, whatever the node's
 * retry policy. Providers say it themselves with `retryable` (lib/providers/errors.ts).
 */
const PERMANENT = new Set([
  'invalid_params',
  'expression_error',
  'expression_timeout',
  'output_too_large',
  'invalid_output',
  'credential_missing',
  'credential_type',
  'unknown_type',
  'workflow_not_found',
  'max_depth_exceeded',
  'input_too_large',
]);

/** The engine's own failures (timeouts, params, outputs). Providers throw ProviderError. */
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

/** What a code may look like when it is recorded: a thrown library error's code can be anything. */
const CODE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * Every error a node can raise becomes `{code, message}`, generically: `code` and `retryable`
 * come from the thrown value when it has them (ProviderError, or any object a plugin throws
 * with a string `code` and a boolean `retryable`); the engine's own permanent codes are never
 * retried; anything else is a retryable `provider_error`. A thrown non-Error (a string, a
 * number, a plain object without a message) is `non_error_thrown`, never a crash.
 */
export function classifyError(err: unknown): ClassifiedError {
  const fields = err !== null && typeof err === 'object' ? (err as { code?: unknown; retryable?: unknown; message?: unknown }) : {};
  const rawCode = typeof fields.code === 'string' && CODE.test(fields.code) ? fields.code : undefined;
  const described = err instanceof Error || typeof fields.message === 'string';
  const code = rawCode ?? (described ? 'provider_error' : 'non_error_thrown');
  const message = err instanceof Error || typeof fields.message === 'string' ? String(fields.message) : `the provider threw a non-Error value: ${preview(err)}`;
  const retryable = typeof fields.retryable === 'boolean' ? fields.retryable : !PERMANENT.has(code);
  // The message is recorded: what jsonb refuses in it (a target's NUL, a lone surrogate) must not make the failure unrecordable.
  return { error: { code, message: cleanText(message.slice(0, 2000)) }, retryable };
}

function preview(value: unknown): string {
  try {
    const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
    return text.slice(0, 200);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export const REDACTED = '[redacted]';

/**
 * Replaces every occurrence of a secret in every string inside `value`, object keys included
 * (a target may echo a token as a JSON key or as a response header's name). Matching ignores
 * case: HTTP lower-cases header names, and a token with its case folded is still most of the token.
 *
 * Two keys can collapse to one once redacted (`{"Bearer s3cr3t": 1, "Bearer [redacted]": 2}`).
 * Neither is dropped: keys that redaction left alone keep their names, and each redacted key
 * that would collide takes the first free `<key> (2)`, `<key> (3)`, … so the output keeps as
 * many members as the input. Iterative (a hostile target can nest its JSON deeply) and
 * returns a copy: the input is not modified.
 */
export function redactSecrets<T>(value: T, secrets: readonly string[]): T {
  // Longest first, so a secret containing another (user:password, password) is replaced whole.
  const usable = [...new Set(secrets.filter((s) => s.length >= 4))].sort((a, b) => b.length - a.length);
  if (usable.length === 0) return value;
  const pattern = new RegExp(usable.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gi');
  const scrub = (s: string) => s.replace(pattern, REDACTED);

  const copies = new Map<object, unknown>();
  const pending: [source: object, copy: Record<string, unknown> | unknown[]][] = [];
  const copyOf = (v: unknown): unknown => {
    if (typeof v === 'string') return scrub(v);
    if (v === null || typeof v !== 'object') return v;
    const seen = copies.get(v);
    if (seen !== undefined) return seen; // shared (or cyclic) references stay shared, and are walked once
    const copy = Array.isArray(v) ? new Array<unknown>(v.length) : {};
    copies.set(v, copy);
    pending.push([v, copy]);
    return copy;
  };

  const root = copyOf(value);
  while (pending.length > 0) {
    const [source, copy] = pending.pop()!;
    if (Array.isArray(copy)) {
      (source as unknown[]).forEach((item, i) => (copy[i] = copyOf(item)));
      continue;
    }
    const entries = Object.entries(source);
    const names = entries.map(([key]) => scrub(key));
    const taken = new Set(entries.flatMap(([key], i) => (names[i] === key ? [key] : [])));
    entries.forEach(([key, item], i) => {
      let name = names[i]!;
      if (name !== key) {
        for (let n = 2; taken.has(name); n++) name = `${names[i]} (${n})`;
        taken.add(name);
      }
      // defineProperty, not assignment: an own "__proto__" key from JSON stays a key.
      Object.defineProperty(copy, name, { value: copyOf(item), enumerable: true, writable: true, configurable: true });
    });
  }
  return root as T;
}
