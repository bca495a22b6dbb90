import { ensureKey } from '../../db/api-keys.js';
import type { Database } from '../../db/database.js';
import { ensureDefaultWorkspace } from '../../db/workspaces.js';
import { displayPrefix, hashSecret } from './api-keys.js';

/** Makes BOOTSTRAP_API_KEY an admin key of the default workspace (idempotent, race-safe). */
export async function ensureBootstrapKey(db: Database, secret: string): Promise<{ workspaceId: string; created: boolean }> {
  const workspace = await ensureDefaultWorkspace(db);
  const created = await ensureKey(db, {
    workspaceId: workspace.id,
    name: 'bootstrap',
    role: 'admin',
    secretHash: hashSecret(secret),
    prefix: displayPrefix(secret),
  });
  return { workspaceId: workspace.id, created };
}
