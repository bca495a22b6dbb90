/** The Postgres failures callers branch on, translated once here from SQLSTATE codes. */
export class UniqueViolation extends Error {
  constructor(readonly constraint: string | undefined, cause: unknown) {
    super(`unique violation${constraint ? ` on ${constraint}` : ''}`, { cause });
    this.name = 'UniqueViolation';
  }
}

interface PgError { code?: string; constraint?: string }

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as PgError | undefined;
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

/** Serialization failures and deadlocks: safe to retry the whole transaction. */
export function isRetryableTxError(err: unknown): boolean {
  const code = (err as PgError | undefined)?.code;
  return code === '40001' || code === '40P01';
}

/** Runs `fn`, turning a unique violation into a UniqueViolation naming the constraint. */
export async function translateUnique<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isUniqueViolation(err)) throw new UniqueViolation((err as PgError).constraint, err);
    throw err;
  }
}

/**
 * A value PostgreSQL will never accept, however often it is sent: data exceptions (class 22:
 * a character jsonb refuses, a number out of range) and program limits (class 54: a value too
 * large). Retrying the same statement cannot help.
 */
export function isUnstorableValue(err: unknown): boolean {
  const code = (err as PgError | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('54'));
}

/** SQLSTATEs of a server that refuses or drops connections: too many clients, starting up, shutting down. */
const UNAVAILABLE_CODES = new Set(['53300', '57P01', '57P02', '57P03']);
/** Socket errors while the server restarts or is unreachable for a moment. */
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);
/** node-postgres's own words for a full pool (wait timed out), a slow handshake, or a dropped socket. */
const UNAVAILABLE_MESSAGE = /^(timeout exceeded when trying to connect|Connection terminated (due to connection timeout|unexpectedly))/;

/**
 * The database cannot give us a connection right now (refused, restarting, pool exhausted), as
 * opposed to a statement it rejected: backpressure to wait out, not a bug. Class 08 is every
 * connection exception. Follows `cause` a few levels, as pg-pool wraps its timeout.
 */
export function isConnectionUnavailable(err: unknown): boolean {
  for (let e = err as (PgError & { message?: string; cause?: unknown; errors?: unknown[] }) | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || UNAVAILABLE_ERRNOS.has(code)) return true;
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return true;
    // Node's connect to a name with several addresses fails with an AggregateError of each attempt.
    if (Array.isArray(e.errors) && e.errors.some((inner) => isConnectionUnavailable(inner))) return true;
  }
  return false;
}

/**
 * Runs `attempt` (a whole transaction) again when PostgreSQL rolled it back for a serialization
 * failure or a deadlock: everything it did was undone, so redoing it is safe. At most
 * `maxAttempts` times, with a short jittered pause; any other error, or the last conflict, is thrown.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, opts: { maxAttempts?: number; onRetry?: (n: number, code: string) => void } = {}): Promise<T> {
  const max = opts.maxAttempts ?? 5;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isRetryableTxError(err) || n >= max) throw err;
      opts.onRetry?.(n, (err as PgError).code!);
      await new Promise((r) => setTimeout(r, Math.random() * 20 * n));
    }
  }
}
