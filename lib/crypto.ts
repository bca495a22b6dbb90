import type { EncryptionKey } from './config.js';

type Sodium = typeof import('libsodium-wrappers');

/**
 * Credential encryption: XChaCha20-Poly1305 (libsodium AEAD) with a random 24-byte nonce.
 * The associated data binds a ciphertext to its workspace, credential id and key id, so a
 * ciphertext copied to another row (or relabelled with another key id) fails to decrypt.
 */
export interface Sealed {
  keyId: string;
  nonce: Buffer;
  ciphertext: Buffer;
}

export interface Binding {
  workspaceId: string;
  credentialId: string;
}

export class DecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecryptionError';
  }
}

/**
 * Loaded on first use: libsodium is ~13 MB of a process's memory, and a worker whose nodes use
 * no credential, or a scheduler, never needs it.
 */
let loaded: Promise<Sodium> | undefined;
const init = () =>
  (loaded ??= import('libsodium-wrappers').then(async (m) => {
    const sodium = (m.default ?? m) as Sodium;
    await sodium.ready;
    return sodium;
  }));

const associatedData = (b: Binding, keyId: string) => `conveyor:credential:v1:${b.workspaceId}:${b.credentialId}:${keyId}`;

export interface Keyring {
  /** Encrypts with the current (first) key. */
  seal(plaintext: string, binding: Binding): Promise<Sealed>;
  open(sealed: Sealed, binding: Binding): Promise<string>;
  currentKeyId: string;
}

export function createKeyring(keys: readonly EncryptionKey[]): Keyring {
  const current = keys[0];
  if (!current) throw new Error('at least one encryption key is required');
  const byId = new Map(keys.map((k) => [k.id, k.key]));
  return {
    currentKeyId: current.id,
    async seal(plaintext, binding) {
      const sodium = await init();
      const nonce = sodium.randombytes_buf(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
      const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associatedData(binding, current.id), null, nonce, current.key);
      return { keyId: current.id, nonce: Buffer.from(nonce), ciphertext: Buffer.from(ciphertext) };
    },
    async open(sealed, binding) {
      const sodium = await init();
      const key = byId.get(sealed.keyId);
      if (!key) throw new DecryptionError(`credential was encrypted with key '${sealed.keyId}', which ENCRYPTION_KEY no longer holds`);
      try {
        const plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed.ciphertext, associatedData(binding, sealed.keyId), sealed.nonce, key);
        return sodium.to_string(plain);
      } catch {
        throw new DecryptionError('credential failed to decrypt: wrong key, or the ciphertext was altered or moved');
      }
    },
  };
}
