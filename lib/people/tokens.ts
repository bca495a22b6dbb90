import { createHash, randomBytes } from 'node:crypto';

/**
 * One-time link tokens (invitations, password resets, OIDC state): 32 random bytes, handed out
 * once and stored only as a sha256 under a purpose tag, so a token of one kind never works as
 * another and a read of the tables cannot be turned into a link.
 */
export type TokenPurpose = 'invite' | 'reset' | 'oidc-state';

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(purpose: TokenPurpose, token: string): Buffer {
  return createHash('sha256').update(`${purpose}\0${token}`, 'utf8').digest();
}

/** Tokens as we issue them (43 base64url characters): anything else is refused without a lookup. */
export function isWellFormedLinkToken(token: string | undefined): token is string {
  return token !== undefined && /^[A-Za-z0-9_-]{43}$/.test(token);
}
