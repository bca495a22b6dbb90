import { sql } from 'kysely';
import { findActiveKeyByHash, type KeyPrincipal } from '../../db/api-keys.js';
import type { Database } from '../../db/database.js';
import type { Role, Workflow } from '../../db/types.js';
import { findWorkflow } from '../../db/workflows.js';
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
    const keys = new GroupCommit<Buffer, KeyPrincipal | undefined>((hashes) => keysByHash(db, hashes), (hash) => findActiveKeyByHash(db, hash));
    const workflows = new GroupCommit<WorkflowRef, Workflow | undefined>(
      (refs) => workflowsByRef(db, refs),
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

async function keysByHash(db: Database, hashes: Buffer[]): Promise<(KeyPrincipal | undefined)[]> {
  // Arrays, not a list of parameters: one statement text for every batch size (prepared once).
  const { rows } = await sql<{ id: string; workspace_id: string; role: Role; rate_limit_per_minute: number | null; secret_hash: Buffer; is_default: boolean }>`
    select k.id, k.workspace_id, k.role, k.rate_limit_per_minute, k.secret_hash, w.is_default
      from api_keys k join workspaces w on w.id = k.workspace_id
     where k.secret_hash = any(${hashes}::bytea[]) and k.revoked_at is null`.execute(db);
  const byHash = new Map(rows.map((row) => [row.secret_hash.toString('hex'), row]));
  return hashes.map((hash) => {
    const row = byHash.get(hash.toString('hex'));
    return row && {
      keyId: row.id,
      workspaceId: row.workspace_id,
      role: row.role,
      isDefaultWorkspace: row.is_default,
      rateLimitPerMinute: row.rate_limit_per_minute,
      secretHash: row.secret_hash,
    };
  });
}

interface WorkflowRef { workspaceId: string; idOrName: string }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function workflowsByRef(db: Database, refs: WorkflowRef[]): Promise<(Workflow | undefined)[]> {
  const byId = refs.map((r) => (UUID.test(r.idOrName) ? r.idOrName : null));
  const { rows } = await sql<Workflow & { ord: string | number }>`
    with x as (
      select * from unnest(${refs.map((r) => r.workspaceId)}::uuid[], ${byId}::uuid[], ${refs.map((r, i) => (byId[i] ? null : r.idOrName))}::text[])
               with ordinality as x(workspace_id, id, name, ord)
    )
    select w.*, x.ord from x join workflows w on w.workspace_id = x.workspace_id and w.id = x.id
    union all
    select w.*, x.ord from x join workflows w on w.workspace_id = x.workspace_id and w.name = x.name and w.archived_at is null`.execute(db);
  const byOrd = new Map(rows.map(({ ord, ...wf }) => [Number(ord), wf as Workflow]));
  return refs.map((_, i) => byOrd.get(i + 1));
}
