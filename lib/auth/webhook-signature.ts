import { createHmac, timingSafeEqual } from 'node:crypto';

/** `X-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, keyed with a webhook's `hmac` credential. */
export const SIGNATURE_HEADER = 'x-signature';
const FORMAT = /^sha256=([0-9a-fA-F]{64})$/;

export function signBody(secret: string, rawBody: Uint8Array | string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/**
 * True only when `header` is a well-formed signature of exactly these bytes. The comparison is
 * over fixed-length digests in constant time; the body must be the raw bytes received, before
 * any JSON parsing (re-serialising changes them).
 */
export function verifySignature(header: string | null | undefined, rawBody: Uint8Array | string, secret: string): boolean {
  const match = FORMAT.exec(header?.trim() ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!, 'hex');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return timingSafeEqual(given, expected);
}
