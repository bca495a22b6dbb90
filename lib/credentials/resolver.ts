import { findCredentialByName } from '../../db/credentials.js';
import type { Database } from '../../db/database.js';
import type { Keyring } from '../crypto.js';
import type { CredentialResolver } from '../engine/deps.js';
import type { CredentialData } from '../providers/types.js';

/**
 * Decrypts a workspace's credential by name, for the one node execution that uses it. Uncached:
 * the worker wraps it in cachedCredentials (./cache.ts); the web process checks webhook HMAC
 * secrets with it as is, so a deleted or replaced secret is refused from the next request on.
 */
export function credentialResolver(db: Database, keyring: Keyring): CredentialResolver {
  return async (workspaceId, name) => {
    const row = await findCredentialByName(db, workspaceId, name);
    if (!row) return undefined;
    const plain = await keyring.open({ keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext }, { workspaceId, credentialId: row.id });
    return { type: row.type, data: JSON.parse(plain) as CredentialData };
  };
}
