import type { CredentialResolver } from '../engine/deps.js';

type Credential = NonNullable<Awaited<ReturnType<CredentialResolver>>>;

/**
 * How long a decrypted credential is reused. Changes are pushed (the `conveyor_credentials`
 * NOTIFY drops a workspace's entries within milliseconds), so this only bounds staleness while
 * the worker's LISTEN connection is down or a notification was missed: short enough that a
 * revoked secret is out of use within seconds, long enough that a busy workflow reads and
 * decrypts each credential once per few seconds instead of once per node.
 */
export const CREDENTIAL_CACHE_TTL_MS = 5_000;

/** At most this many decrypted credentials are held; the oldest goes first. Bounds memory, not correctness. */
export const CREDENTIAL_CACHE_MAX_ENTRIES = 1_000;

/** A resolver that reuses what it decrypted, told about changes by the credential listener. */
export interface CachedCredentialResolver extends CredentialResolver {
  /** Drops every entry of one workspace (a credential of it changed). */
  invalidate(workspaceId: string): void;
  /** Drops everything (notifications may have been missed). */
  clear(): void;
  /** Entries held now (tests, metrics). */
  readonly size: number;
}

interface Entry {
  workspaceId: string;
  value: Credential;
  expiresAt: number;
}

/**
 * Wraps `resolve` with a short-lived cache of (workspace, name) → decrypted credential, in this
 * process's memory only (the secrets are never logged; a node held them in memory before too).
 *
 * Misses are not cached: a node that failed with credential_missing is retried after its backoff,
 * and if the user created the credential meanwhile the retry must find it, not a remembered
 * "absent". A miss costs one indexed query and no decryption. Errors are not cached either.
 *
 * Concurrent lookups of one key share one query. A lookup that was in flight when an
 * invalidation arrived returns its result but does not cache it: it may have read the row
 * before the change committed.
 */
export function cachedCredentials(
  resolve: CredentialResolver,
  opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {},
): CachedCredentialResolver {
  const ttlMs = opts.ttlMs ?? CREDENTIAL_CACHE_TTL_MS;
  const maxEntries = opts.maxEntries ?? CREDENTIAL_CACHE_MAX_ENTRIES;
  const now = opts.now ?? (() => performance.now());
  const entries = new Map<string, Entry>();
  const loading = new Map<string, { workspaceId: string; promise: Promise<Credential | undefined> }>();
  // Bumped by every invalidation: a load that started under an older epoch is not cached.
  let epoch = 0;

  // Entries are kept in insertion order and share one TTL, so the expired ones are at the front:
  // dropped on every call, a decrypted secret outlives its TTL only while the worker is idle.
  const dropExpired = (t: number) => {
    for (const [key, e] of entries) {
      if (e.expiresAt > t) break;
      entries.delete(key);
    }
  };
  const remember = (key: string, workspaceId: string, value: Credential) => {
    entries.delete(key);
    while (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
    entries.set(key, { workspaceId, value: copy(value), expiresAt: now() + ttlMs });
  };
  const load = (key: string, workspaceId: string, name: string) => {
    const started = epoch;
    const promise = resolve(workspaceId, name).then((value) => {
      if (value && started === epoch) remember(key, workspaceId, value);
      return value;
    });
    const done = () => {
      if (loading.get(key)?.promise === promise) loading.delete(key);
    };
    promise.then(done, done);
    loading.set(key, { workspaceId, promise });
    return promise;
  };

  const cached = (async (workspaceId: string, name: string) => {
    dropExpired(now());
    // Workspace ids are uuids and names match [A-Za-z0-9][A-Za-z0-9_.-]*: NUL separates them unambiguously.
    const key = `${workspaceId}\0${name}`;
    const hit = entries.get(key);
    if (hit) return copy(hit.value);
    const value = await (loading.get(key)?.promise ?? load(key, workspaceId, name));
    return value && copy(value);
  }) as CachedCredentialResolver;

  cached.invalidate = (workspaceId) => {
    epoch++;
    for (const [key, e] of entries) if (e.workspaceId === workspaceId) entries.delete(key);
    for (const [key, l] of loading) if (l.workspaceId === workspaceId) loading.delete(key);
  };
  cached.clear = () => {
    epoch++;
    entries.clear();
    loading.clear();
  };
  Object.defineProperty(cached, 'size', { get: () => entries.size });
  return cached;
}

// Each caller gets its own object: one node's provider cannot alter what the next one receives.
const copy = (c: Credential): Credential => ({ type: c.type, data: { ...c.data } });
