import { countCredentialsNotUnderKey, credentialsNotUnderKey, updateCredentialSecret } from '../../db/credentials.js';
import type { Database } from '../../db/database.js';
import type { Keyring } from '../crypto.js';
import type { Logger } from '../logger.js';

export interface RotationReport {
  /** Re-encrypted under the current key. */
  rotated: number;
  /** Changed by someone else between our read and our write: already re-sealed by them. */
  raced: number;
  /** Could not be decrypted (their key is missing from ENCRYPTION_KEY, or they were tampered with). */
  failed: { id: string; keyId: string; reason: string }[];
  /** Still not under the current key when the rotation ended (0 on success). */
  remaining: number;
}

/**
 * Re-encrypts every credential not under the keyring's current key, while the system runs.
 * Each row is swapped by compare-and-set on its old ciphertext, so a concurrent update wins and
 * a running node decrypts either the old or the new ciphertext, both of which the keyring opens.
 * Needs every process to already hold the new key first in ENCRYPTION_KEY (and the old ones after).
 */
export async function rotateCredentials(db: Database, keyring: Keyring, opts: { batchSize?: number; log?: Logger } = {}): Promise<RotationReport> {
  const batchSize = opts.batchSize ?? 100;
  const current = keyring.currentKeyId;
  const report: RotationReport = { rotated: 0, raced: 0, failed: [], remaining: 0 };
  const failedIds = new Set<string>();
  // A second pass picks up rows a process with a stale key list wrote during the first.
  for (let pass = 0; pass < 3; pass++) {
    const failedBefore = report.failed.length;
    let after: string | undefined;
    let touched = 0;
    for (;;) {
      const rows = await credentialsNotUnderKey(db, current, batchSize, after);
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
      for (const row of rows) {
        if (failedIds.has(row.id)) continue;
        const binding = { workspaceId: row.workspace_id, credentialId: row.id };
        let plain: string;
        try {
          plain = await keyring.open({ keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext }, binding);
        } catch (err) {
          failedIds.add(row.id);
          report.failed.push({ id: row.id, keyId: row.key_id, reason: (err as Error).message });
          continue;
        }
        const sealed = await keyring.seal(plain, binding);
        const updated = await updateCredentialSecret(
          db,
          row.workspace_id,
          row.id,
          { key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext },
          row.hints,
          { keyId: row.key_id, nonce: row.nonce },
        );
        touched++;
        if (updated) report.rotated++;
        else report.raced++;
      }
      opts.log?.info({ rotated: report.rotated, raced: report.raced, failed: report.failed.length }, 'rotating credentials');
    }
    report.remaining = await countCredentialsNotUnderKey(db, current);
    if (report.remaining <= report.failed.length || (touched === 0 && report.failed.length === failedBefore)) break;
  }
  return report;
}
