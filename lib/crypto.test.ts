import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyring, DecryptionError } from './crypto.js';

const key = (id: string) => ({ id, key: new Uint8Array(randomBytes(32)) });
const binding = { workspaceId: 'ws-1', credentialId: 'cred-1' };

describe('keyring', () => {
  it('round-trips with the current key and never leaves plaintext in the ciphertext', async () => {
    const ring = createKeyring([key('k1')]);
    const sealed = await ring.seal('sk-very-secret', binding);
    expect(sealed.keyId).toBe('k1');
    expect(sealed.nonce).toHaveLength(24);
    expect(sealed.ciphertext.toString('latin1')).not.toContain('sk-very-secret');
    expect(await ring.open(sealed, binding)).toBe('sk-very-secret');
  });

  it('uses a fresh nonce every time', async () => {
    const ring = createKeyring([key('k1')]);
    const a = await ring.seal('same', binding);
    const b = await ring.seal('same', binding);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
  });

  it('refuses a ciphertext moved to another credential or workspace, or relabelled', async () => {
    const k1 = key('k1');
    const k2 = key('k2');
    const ring = createKeyring([k1, k2]);
    const sealed = await ring.seal('secret', binding);
    await expect(ring.open(sealed, { ...binding, credentialId: 'cred-2' })).rejects.toBeInstanceOf(DecryptionError);
    await expect(ring.open(sealed, { ...binding, workspaceId: 'ws-2' })).rejects.toBeInstanceOf(DecryptionError);
    await expect(ring.open({ ...sealed, keyId: 'k2' }, binding)).rejects.toBeInstanceOf(DecryptionError);
    const tampered = Buffer.from(sealed.ciphertext);
    tampered[0] = tampered[0]! ^ 1;
    await expect(ring.open({ ...sealed, ciphertext: tampered }, binding)).rejects.toBeInstanceOf(DecryptionError);
  });

  it('decrypts with an older key after rotation and encrypts with the new one', async () => {
    const old = key('old');
    const sealed = await createKeyring([old]).seal('secret', binding);
    const rotated = createKeyring([key('new'), old]);
    expect(await rotated.open(sealed, binding)).toBe('secret');
    expect((await rotated.seal('secret', binding)).keyId).toBe('new');
    await expect(createKeyring([key('new')]).open(sealed, binding)).rejects.toThrow(/no longer holds/);
  });
});
