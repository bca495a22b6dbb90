import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Fetch } from '../http/guarded-fetch.js';

/** A JSON value: what a provider may return and what node outputs are stored as. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Credential types a provider may declare; their data shapes live in lib/credentials. */
export type CredentialType = 'bearer' | 'basic' | 'header' | 'openai' | 'hmac' | 'slack' | 'smtp' | 'anthropic';

/** A credential's decrypted data: its fields keep their JSON types (an SMTP `port` is a number). */
export type CredentialData = Record<string, string | number | boolean>;

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
  credential?: { type: CredentialType; data: CredentialData };
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
  /**
   * WHATWG `fetch` behind http.request's SSRF guard (HTTP_ALLOW_HOSTS, every redirect hop,
   * response size cap, credentials dropped across origins), aborted with `signal`.
   */
  fetch: Fetch;
}

/**
 * A provider: one file under lib/providers/, listed once in the registry, or a plugin loaded from
 * CONVEYOR_PLUGINS (lib/providers/plugins.ts). `params` validates the node's resolved params; its
 * JSON Schema is served by GET /v1/providers. Failures are thrown as ProviderError (./errors.ts):
 * the provider, not the engine, says which of them a retry can fix.
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

/** A JSON Schema object (validated with Ajv when a plugin declares its params with one). */
export type JsonSchema = { [key: string]: unknown };

/** A provider whose params are a JSON Schema instead of a zod schema: what a plain .mjs plugin exports. */
export interface JsonSchemaProvider<P = Record<string, unknown>> extends Omit<Provider, 'params' | 'run'> {
  params: JsonSchema;
  run(ctx: ProviderContext<P>): Promise<Json | Suspension | undefined>;
}

/** Typed identity helper so each provider file (or a TypeScript plugin) gets inference on its params. */
export function defineProvider<S extends z.ZodType>(provider: Provider<S>): Provider<S>;
export function defineProvider<P = Record<string, unknown>>(provider: JsonSchemaProvider<P>): JsonSchemaProvider<P>;
export function defineProvider(provider: Provider | JsonSchemaProvider): Provider | JsonSchemaProvider {
  return provider;
}

export { ProviderError } from './errors.js';
