import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from '../../db/types.js';

/**
 * API key secrets: `cvy_` + 32 random bytes (base64url), recognisable in leaked-secret scans.
 * Only the sha256 is stored; with 256 bits of entropy a slow hash adds nothing but latency.
 */
export const KEY_PREFIX = 'cvy_';

export function generateSecret(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** What a client sees of a key after creation: enough to recognise it, never enough to use it. */
export function displayPrefix(secret: string): string {
  return secret.slice(0, KEY_PREFIX.length + 6);
}

export function hashesEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const RANK: Record<Role, number> = { viewer: 1, editor: 2, admin: 3 };

export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}
