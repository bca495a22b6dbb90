import { findActiveKeyByHash, findActiveKeysByHash, type KeyPrincipal } from '../../db/api-keys.js';
import type { Database } from '../../db/database.js';
import type { Workflow } from '../../db/types.js';
import { findWorkflow, findWorkflows, type WorkflowRef } from '../../db/workflows.js';
import { GroupCommit } from '../../lib/group-commit.js';

/**
 * The reads every `POST /runs` makes before its insert, group-committed like the insert itself:
 * the lookups that arrive while one is in flight go together as one statement. Keys are never
 * cached: each request's lookup is a statement that started after the request arrived, so a key
 * revoked a moment before is refused, by every web process.
 */
export interface Lookups {
  /** The unrevoked key with this sha256, with its workspace. */
  key(hash: Buffer): Promise<KeyPrincipal | undefined>;
  /** By id or by name within the workspace; archived workflows are found by id only (as findWorkflow). */
  workflow(workspaceId: string, idOrName: string): Promise<Workflow | undefined>;
  /**
   * `workflow`, as last read by this process (an unarchived one): only for a write that checks
   * the row still holds when it commits (run creation's `assumed`), and forgets it when not.
   */
  recentWorkflow(workspaceId: string, idOrName: string): Promise<Workflow | undefined>;
  forgetWorkflow(workspaceId: string, idOrName: string): void;
}

/** Workflows remembered per process at most; past it the memory starts over. */
const MAX_RECENT = 1000;

const perDb = new WeakMap<Database, Lookups>();

export function lookupsFor(db: Database): Lookups {
  let lookups = perDb.get(db);
  if (!lookups) {
    const keys = new GroupCommit<Buffer, KeyPrincipal | undefined>((hashes) => findActiveKeysByHash(db, hashes), (hash) => findActiveKeyByHash(db, hash));
    const workflows = new GroupCommit<WorkflowRef, Workflow | undefined>(
      (refs) => findWorkflows(db, refs),
      (ref) => findWorkflow(db, ref.workspaceId, ref.idOrName),
    );
    const recent = new Map<string, Workflow>();
    const workflow = (workspaceId: string, idOrName: string) => workflows.submit({ workspaceId, idOrName });
    lookups = {
      key: (hash) => keys.submit(hash),
      workflow,
      async recentWorkflow(workspaceId, idOrName) {
        const key = `${workspaceId} ${idOrName}`;
        const known = recent.get(key);
        if (known) return known;
        const wf = await workflow(workspaceId, idOrName);
        if (wf && !wf.archived_at) {
          if (recent.size >= MAX_RECENT) recent.clear();
          recent.set(key, wf);
        }
        return wf;
      },
      forgetWorkflow: (workspaceId, idOrName) => void recent.delete(`${workspaceId} ${idOrName}`),
    };
    perDb.set(db, lookups);
  }
  return lookups;
}
