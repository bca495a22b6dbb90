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
