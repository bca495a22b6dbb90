/**
 * A provider's failure, with its own retry policy: the engine records `{code, message}` on the
 * node and retries (within the node's `retry` policy) only when `retryable` is true. A provider —
 * built-in or plugin — says what its failures mean here; the engine knows no provider's codes.
 *
 * Plugins need no import for this: any thrown value with a string `code` and a boolean
 * `retryable` is read the same way (`Object.assign(new Error('…'), {code, retryable})`).
 * Anything else thrown is `provider_error` and retryable: the next attempt may succeed.
 */
export class ProviderError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProviderError';
    this.code = code;
    // Default false: a provider naming a failure usually knows the same call would fail again.
    this.retryable = options.retryable ?? false;
  }
}

/** A failure that would fail the same way again (bad params, refused address, auth). */
export const permanent = (code: string, message: string) => new ProviderError(code, message, { retryable: false });

/** A failure the next attempt may not meet (a 5xx, a reset connection, a timeout). */
export const transient = (code: string, message: string) => new ProviderError(code, message, { retryable: true });
