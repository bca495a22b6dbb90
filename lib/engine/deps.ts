import type { Database } from '../../db/database.js';
import type { Logger } from '../logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { CredentialData, CredentialType, ProviderSettings } from '../providers/types.js';
import type { QueueBackend } from '../queue.js';
import type { RunAborts } from './aborts.js';

/** Looks up and decrypts a workspace's credential for one node execution. */
export type CredentialResolver = (
  workspaceId: string,
  name: string,
) => Promise<{ type: CredentialType; data: CredentialData } | undefined>;

/** Observers of the engine's outcomes (metrics, heartbeats): called after commit, never awaited, never throw. */
export interface EngineHooks {
  nodeExecuted?(e: { type: string; status: 'succeeded' | 'failed' | 'skipped' | 'waiting' | 'retrying'; seconds: number }): void;
  runFinished?(e: { runId: string; status: string }): void;
  /** A group commit of node results went out with `count` of them. */
  resultsBatched?(count: number): void;
}

/** What the engine needs; apps build it once (or a test does). */
export interface EngineDeps {
  db: Database;
  queues: QueueBackend;
  log: Logger;
  registry: ProviderRegistry;
  settings: ProviderSettings & {
    maxNodeOutputBytes: number;
    /** What all of one node's expression results may add up to (checked inside the sandbox). */
    maxExpressionBytes: number;
    maxRunInputBytes: number;
    /** A running node's holder heartbeats every third of this; silent longer, it is presumed dead. */
    nodeLockMs: number;
    /** How deep workflow.run may nest: recursion ends with a clear error. */
    maxRunDepth: number;
  };
  credentials?: CredentialResolver;
  /** This process's in-flight node executions, aborted by run on cancellation. */
  aborts: RunAborts;
  hooks: EngineHooks;
}
