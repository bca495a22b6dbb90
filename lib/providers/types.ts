import type { Logger } from 'pino';
import type { z } from 'zod';

/** A JSON value: what a provider may return and what node outputs are stored as. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Credential types a provider may declare; their data shapes live in lib/credentials. */
export type CredentialType = 'bearer' | 'basic' | 'header' | 'openai' | 'hmac';

/** Process-wide settings a provider may need, taken from config by the engine. */
export interface ProviderSettings {
  /** HTTP_ALLOW_HOSTS: hostnames, IPs or CIDRs the SSRF guard lets through. */
  httpAllowHosts: readonly string[];
  /** Cap on a response body read by a provider, in bytes. */
  maxResponseBytes: number;
}

/**
 * What a provider returns to wait without holding a worker slot: the node parks in `waiting`
 * and the job ends. A timer (`wakeAt`) records `onWake` when it fires; a child run records its
 * own outcome when it ends; a signal (POST .../signal) records its payload.
 */
export class Suspension {
  constructor(
    /** Shown as the node's `waitingFor`: "delay until …", "a signal", "child run …". */
    readonly reason: string,
    readonly wakeAt?: Date,
    readonly onWake?: { output: Json } | { error: { code: string; message: string } },
    readonly childRunId?: string,
  ) {}
}

export interface ChildRunRequest {
  /** A workflow of the same workspace, by name. */
  workflow: string;
  version?: number;
  input: Json;
}

/** What a provider's `run` receives. Everything is already resolved: no expressions remain. */
export interface ProviderContext<P> {
  params: P;
  /** The decrypted credential data named by the node, if any (never logged, never stored). */
  credential?: { type: CredentialType; data: Record<string, string> };
  /** Aborted on node timeout, run cancellation or worker lock loss. Providers must honour it. */
  signal: AbortSignal;
  /** Bound to runId, nodeId and attempt. Log ids, never payloads. */
  log: Logger;
  /** `<runId>:<nodeId>`: stable across retries, pass it to side-effecting APIs. */
  idempotencyKey: string;
  run: { id: string; workflowId: string; workspaceId: string; nodeId: string; attempt: number };
  settings: ProviderSettings;
  /** Starts (once per node: a repeat returns the same run) a child run of this node. */
  startChildRun(req: ChildRunRequest): Promise<{ runId: string; status: string }>;
}

/**
 * A provider: one file under lib/providers/, listed once in the registry.
 * `params` validates the node's resolved params; its JSON Schema is served by GET /v1/providers.
 */
export interface Provider<S extends z.ZodType = z.ZodType> {
  type: string;
  description: string;
  params: S;
  /** Credential types this provider accepts, if it takes one. */
  credential?: readonly CredentialType[];
  /** Queue this provider's node jobs go to (default: the shared node queue). */
  queue?: string;
  /** JSON output, or a Suspension to wait (delay, signal, child run) without holding a slot. */
  run(ctx: ProviderContext<z.infer<S>>): Promise<Json | Suspension>;
}

/** Typed identity helper so each provider file gets inference on its params. */
export function defineProvider<S extends z.ZodType>(provider: Provider<S>): Provider<S> {
  return provider;
}
