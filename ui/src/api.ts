/** The console's one way to call the API: same-origin cookie, CSRF header on every mutation, one error shape. */
import type { paths } from './api-types.js';

export type Role = 'admin' | 'editor' | 'viewer';

export interface Session {
  /** The API key a session was opened with, or null for a person's session (then userId is set). */
  keyId: string | null;
  userId: string | null;
  workspaceId: string;
  role: Role;
  expiresAt: string;
  csrfToken: string;
  csrfHeader: string;
  bullBoard: { path: string; defaultQueue: string; queues: Record<string, string> } | null;
}

export interface ErrorDetail {
  pointer?: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
    /** Seconds to wait, from Retry-After (429). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

let current: Session | null = null;
let onEnded: (message: string) => void = () => {};

export function useSession(session: Session | null, ended: (message: string) => void) {
  current = session;
  onEnded = ended;
}

export const canEdit = (s: Session | null) => s?.role === 'admin' || s?.role === 'editor';
export const isAdmin = (s: Session | null) => s?.role === 'admin';

/** The message of a field's error (details pointer `/name`), for showing it next to that field. */
export function fieldError(err: unknown, field: string): string | undefined {
  if (!(err instanceof ApiError)) return undefined;
  const d = err.details.find((x) => x.pointer === `/${field}`);
  return d ? `${field === 'newPassword' ? 'New password' : field === 'currentPassword' ? 'Current password' : field[0]!.toUpperCase() + field.slice(1)} ${d.message}.` : undefined;
}

async function parse(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function call<T>(method: string, path: string, body?: unknown, opts: { quiet401?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && current) headers[current.csrfHeader] = current.csrfToken;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const parsed = (await parse(res)) as { error?: { code: string; message: string; details?: ErrorDetail[] } } | undefined;
  if (!res.ok) {
    const e = parsed?.error;
    const wait = Number(res.headers.get('retry-after'));
    const err = new ApiError(res.status, e?.code ?? 'http_error', e?.message ?? `${method} ${path}: HTTP ${res.status}`, e?.details ?? [], wait > 0 ? wait : undefined);
    if (res.status === 401 && !opts.quiet401) onEnded('Your session has ended (signed out, expired or its key revoked). Sign in again.');
    throw err;
  }
  return parsed as T;
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
/** A spec path as called: `/v1/runs/{id}` accepts `/v1/runs/${id}`. */
type Filled<P extends string> = P extends `${infer Head}{${string}}${infer Tail}` ? `${Head}${string}${Filled<Tail>}` : P;
type Served<M extends Method> = { [P in keyof paths]: paths[P] extends { [K in M]: unknown } ? P : never }[keyof paths] & string;
/** A path GET /openapi.json serves for `M` (ui/src/api-types.ts), with or without a query string. */
export type ApiPath<M extends Method> = Filled<Served<M>> | `${Filled<Served<M>>}?${string}`;
/**
 * Typed from the spec: a path the API does not serve for that method does not compile (the
 * spec's answers are loose objects, so each caller names the answer it reads: `T`).
 */
export const api = {
  get: <T>(path: ApiPath<'get'>) => call<T>('GET', path),
  post: <T>(path: ApiPath<'post'>, body?: unknown) => call<T>('POST', path, body),
  patch: <T>(path: ApiPath<'patch'>, body?: unknown) => call<T>('PATCH', path, body),
  put: <T>(path: ApiPath<'put'>, body?: unknown) => call<T>('PUT', path, body),
  delete: <T>(path: ApiPath<'delete'>) => call<T>('DELETE', path),
  /** Public routes (sign-in options, invitation and reset links): a 401 there is an answer, not an ended session. */
  publicGet: <T>(path: string) => call<T>('GET', path, undefined, { quiet401: true }),
  publicPost: <T>(path: string, body?: unknown) => call<T>('POST', path, body, { quiet401: true }),
  session: () => call<Session>('GET', '/ui/session', undefined, { quiet401: true }),
  signIn: (apiKey: string) => call<Session>('POST', '/ui/session', { apiKey }, { quiet401: true }),
  signInWithPassword: (email: string, password: string) => call<Session>('POST', '/ui/session', { email, password }, { quiet401: true }),
  signOut: () => call<void>('DELETE', '/ui/session', undefined, { quiet401: true }),
};

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const qs = (params: Record<string, string | number | undefined | null>): '' | `?${string}` => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};
