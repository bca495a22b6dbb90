import type { CredentialData, CredentialType } from '../providers/types.js';
import { PUBLIC_FIELDS } from './types.js';

/**
 * The strings to scrub from anything a node records after using `credential`: each secret
 * field (not the public ones — a header's name, a user name, a base URL — which redaction, matching
 * without case, would otherwise scrub from every echo of them), and the forms a provider puts on the wire that a target may echo back (HTTP Basic
 * sends base64 of `user:password`, which contains neither value as such).
 */
export function redactionValues(credential: { type: CredentialType; data: CredentialData }): string[] {
  const { type, data } = credential;
  const values = Object.entries(data).flatMap(([field, value]) => (PUBLIC_FIELDS.has(field) || typeof value !== 'string' ? [] : [value]));
  if (type === 'basic' && data.username !== undefined && data.password !== undefined) {
    const encoded = Buffer.from(`${data.username}:${data.password}`).toString('base64');
    values.push(encoded, encoded.replace(/=+$/, ''));
  }
  // A Slack webhook URL's secret is its path: a target quoting the path alone is a leak too.
  if (type === 'slack' && typeof data.webhookUrl === 'string') {
    try {
      const { pathname } = new URL(data.webhookUrl);
      values.push(pathname, ...pathname.split('/').filter((segment) => segment.length >= 16));
    } catch {
      // Validated as a URL on write: nothing more to derive.
    }
  }
  // SMTP AUTH PLAIN and LOGIN send these base64 forms: a server's error may quote them back.
  if (type === 'smtp' && typeof data.password === 'string') {
    for (const encoded of [Buffer.from(data.password).toString('base64'), Buffer.from(`\0${data.username ?? ''}\0${data.password}`).toString('base64')]) {
      values.push(encoded, encoded.replace(/=+$/, ''));
    }
  }
  return [...new Set(values)];
}
