import type { CredentialType } from '../providers/types.js';
import { PUBLIC_FIELDS } from './types.js';

/**
 * The strings to scrub from anything a node records after using `credential`: each secret
 * field (not the public ones — a header's name, a user name, a base URL — which redaction, matching
 * without case, would otherwise scrub from every echo of them), and the forms a provider puts on the wire that a target may echo back (HTTP Basic
 * sends base64 of `user:password`, which contains neither value as such).
 */
export function redactionValues(credential: { type: CredentialType; data: Record<string, string> }): string[] {
  const { type, data } = credential;
  const values = Object.entries(data).flatMap(([field, value]) => (PUBLIC_FIELDS.has(field) ? [] : [value]));
  if (type === 'basic' && data.username !== undefined && data.password !== undefined) {
    const encoded = Buffer.from(`${data.username}:${data.password}`).toString('base64');
    values.push(encoded, encoded.replace(/=+$/, ''));
  }
  return [...new Set(values)];
}
