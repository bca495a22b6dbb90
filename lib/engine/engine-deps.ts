import type { Database } from '../../db/database.js';
import type { Config } from '../config.js';
import { credentialResolver } from '../credentials/resolver.js';
import { createKeyring } from '../crypto.js';
import type { Logger } from '../logger.js';
import { createRegistry, type ProviderRegistry } from '../providers/registry.js';
import type { QueueBackend } from '../queue.js';
import { RunAborts } from './aborts.js';
import type { CredentialResolver, EngineDeps, EngineHooks } from './deps.js';

/** Builds the engine's dependencies from config: one place, shared by every process and tests. */
export function engineDeps(opts: {
  db: Database;
  queues: QueueBackend;
  config: Config;
  log: Logger;
  registry?: ProviderRegistry;
  credentials?: CredentialResolver;
  hooks?: EngineHooks;
}): EngineDeps {
  const { config } = opts;
  return {
    db: opts.db,
    queues: opts.queues,
    log: opts.log,
    registry: opts.registry ?? createRegistry(),
    aborts: new RunAborts(),
    hooks: opts.hooks ?? {},
    credentials: opts.credentials ?? credentialResolver(opts.db, createKeyring(config.ENCRYPTION_KEYS)),
    settings: {
      httpAllowHosts: config.HTTP_ALLOW_HOSTS,
      maxResponseBytes: Math.max(config.MAX_NODE_OUTPUT_BYTES * 4, 1024 * 1024),
      maxNodeOutputBytes: config.MAX_NODE_OUTPUT_BYTES,
      // A node's params may join several upstream outputs: room for a few, and never a worker's worth.
      maxExpressionBytes: Math.max(config.MAX_NODE_OUTPUT_BYTES * 4, 4 * 1024 * 1024),
      maxRunInputBytes: config.MAX_RUN_INPUT_BYTES,
      nodeLockMs: config.NODE_LOCK_MS,
      maxRunDepth: config.MAX_RUN_DEPTH,
    },
  };
}
