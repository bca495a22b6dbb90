/** The console's one way to call the API: same-origin cookie, CSRF header on every mutation, one error shape. */
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

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body?: unknown) => call<T>('POST', path, body),
  patch: <T>(path: string, body?: unknown) => call<T>('PATCH', path, body),
  put: <T>(path: string, body?: unknown) => call<T>('PUT', path, body),
  delete: <T>(path: string) => call<T>('DELETE', path),
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

export const qs = (params: Record<string, string | number | undefined | null>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};
