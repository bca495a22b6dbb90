import { parseSse, type SseMessage } from './sse.js';

/** A failure the CLI reports in one line (no stack): a bad flag, an API error, an unreachable server. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.error) {
    super(message);
    this.name = 'CliError';
  }
}

/** Exit codes: the run's outcome for `run --follow`, then our own failures. */
export const EXIT = { ok: 0, failed: 1, cancelled: 2, error: 3, usage: 64 } as const;

export interface ApiClient {
  readonly url: string;
  request<T = any>(method: string, path: string, opts?: { body?: unknown; headers?: Record<string, string>; ok?: number[] }): Promise<{ status: number; body: T }>;
  /** The run's events from `afterId` on, as SSE messages, until the server ends the stream. */
  events(runId: string, afterId: string | undefined, signal?: AbortSignal): AsyncGenerator<SseMessage>;
}

const REQUEST_TIMEOUT_MS = 30_000;

export function createClient(url: string | undefined, key: string | undefined): ApiClient {
  if (!url) throw new CliError('Set CONVEYOR_URL (e.g. http://localhost:3000) or pass --url.', EXIT.usage);
  if (!/^https?:\/\//.test(url)) throw new CliError(`CONVEYOR_URL must start with http:// or https://, not "${url}".`, EXIT.usage);
  if (!key) throw new CliError('Set CONVEYOR_API_KEY (with `npm start`: `export CONVEYOR_API_KEY=$(cat .data/admin.key)`) or pass --key.', EXIT.usage);
  const base = url.replace(/\/+$/, '');
  const headers = { authorization: `Bearer ${key}`, 'user-agent': 'conveyor-cli' };
  const call = async (path: string, init: RequestInit) => {
    try {
      return await fetch(`${base}${path}`, init);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`Cannot reach Conveyor at ${base}: ${cause?.code ?? cause?.message ?? (err as Error).message}. Is it running? Is CONVEYOR_URL right?`);
    }
  };
  return {
    url: base,
    async request(method, path, { body, headers: extra, ok = [200, 201, 202, 204] } = {}) {
      const res = await call(path, {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extra },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await res.text();
      let parsed: any = undefined;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = text;
      }
      if (!ok.includes(res.status)) throw new CliError(describeError(method, path, res.status, parsed));
      return { status: res.status, body: parsed };
    },
    async *events(runId, afterId, signal) {
      const res = await call(`/v1/runs/${encodeURIComponent(runId)}/events`, {
        headers: { ...headers, accept: 'text/event-stream', ...(afterId ? { 'last-event-id': afterId } : {}) },
        signal,
      });
      if (res.status !== 200) {
        const text = await res.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // Not JSON: shown as it is.
        }
        throw new CliError(describeError('GET', `/v1/runs/${runId}/events`, res.status, parsed));
      }
      yield* parseSse(res.body!);
    },
  };
}

function describeError(method: string, path: string, status: number, body: any): string {
  const e = body?.error;
  if (!e) return `${method} ${path}: HTTP ${status}${typeof body === 'string' && body ? `: ${body.slice(0, 200)}` : ''}`;
  const details = Array.isArray(e.details) && e.details.length ? `\n${e.details.map((d: any) => `  - ${d.pointer ? `${d.pointer}: ` : ''}${d.message ?? JSON.stringify(d)}`).join('\n')}` : '';
  const hint = status === 401 ? ' (check CONVEYOR_API_KEY)' : '';
  return `${e.message ?? e.code} [${status} ${e.code}]${hint}${details}`;
}
