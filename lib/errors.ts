/**
 * The few error classes the API maps to HTTP answers (in one place: apps/api's onError).
 * `code` is the snake_case string clients see in `{"error":{"code",...}}`.
 */
export interface ErrorDetail {
  /** JSON pointer into the request, e.g. "/nodes/2/params/url". */
  pointer?: string;
  message: string;
  [extra: string]: unknown;
}

export class AppError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 422 | 429 | 503,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const badRequest = (message: string, details?: ErrorDetail[], code = 'validation_failed') =>
  new AppError(400, code, message, details);
export const unauthorized = (message = 'Send an API key as `Authorization: Bearer <key>`.') =>
  new AppError(401, 'unauthorized', message);
export const forbidden = (message: string) => new AppError(403, 'forbidden', message);
export const notFound = (what: string) => new AppError(404, 'not_found', `${what} not found`);
export const conflict = (message: string, code = 'conflict') => new AppError(409, code, message);
export const tooLarge = (message: string) => new AppError(413, 'payload_too_large', message);
export const unavailable = (message: string, details?: ErrorDetail[]) =>
  new AppError(503, 'unavailable', message, details);

/** Exhaustiveness guard for switches over statuses and codes. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
