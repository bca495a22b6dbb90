import type { Logger } from '../logger.js';
import type { Registry } from 'prom-client';
import { tracesUrl, type TracingConfig } from './env.js';

/**
 * Traces with OpenTelemetry (DESIGN.md, "Tracing"): one trace per run. The run's root span is
 * made where the run is created, its W3C `traceparent` is stored on the run row, and each node
 * execution's span is its child, in whichever worker claims the node.
 *
 * This module is what the hot path imports, and it imports nothing of OpenTelemetry: with no
 * endpoint configured, `startTracing` loads nothing and every hook below is one check of
 * `spans` (undefined). With an endpoint, sdk.ts is imported dynamically and installs them.
 */

/** What a run's root span says about the run; a StartRunRequest is one. */
export interface RunSpanInfo {
  workflowId: string;
  version: number;
  trigger: { type: string };
  retryOf?: string;
  parent?: { runId: string; nodeId: string };
}

export interface NodeSpanInfo {
  runId: string;
  nodeId: string;
  type: string;
  attempt: number;
}

/** The span operations, installed by sdk.ts when tracing is on. */
export interface SpanHooks {
  runCreation<T extends { run: { id: string; status: string }; created: boolean }>(info: RunSpanInfo, create: (traceparent: string) => Promise<T>): Promise<T>;
  node<T extends { status: string }>(traceparent: string | null, info: NodeSpanInfo, execute: () => Promise<T>, thrownStatus: (err: unknown) => string): Promise<T>;
  outboundTraceparent(): string | undefined;
  logFields(): object;
}

let spans: SpanHooks | undefined;

/** True once tracing is started in this process. */
export function tracingOn(): boolean {
  return spans !== undefined;
}

/** Runs `create` inside the run's root span and hands it the span's traceparent to store (null when off). */
export function traceRunCreation<T extends { run: { id: string; status: string }; created: boolean }>(
  info: RunSpanInfo,
  create: (traceparent: string | null) => Promise<T>,
): Promise<T> {
  return spans ? spans.runCreation(info, create) : create(null);
}

/** Runs a claimed node's execution inside its span, a child of the run's root span. */
export function traceNode<T extends { status: string }>(
  traceparent: string | null,
  info: NodeSpanInfo,
  execute: () => Promise<T>,
  thrownStatus: (err: unknown) => string,
): Promise<T> {
  return spans ? spans.node(traceparent, info, execute, thrownStatus) : execute();
}

/**
 * The headers of an outbound request with `traceparent` for the active span added (lib/http),
 * unless the caller set one. The same object when tracing is off or no span is active.
 */
export function withTraceContext(headers: Record<string, string>): Record<string, string> {
  if (!spans) return headers;
  const traceparent = spans.outboundTraceparent();
  if (!traceparent || Object.keys(headers).some((k) => k.toLowerCase() === 'traceparent')) return headers;
  return { ...headers, traceparent };
}

/**
 * A pino mixin adding `trace_id` and `span_id` of the active span to every log line, or
 * undefined when tracing is not configured: the logger then pays nothing per line.
 */
export function traceLogMixin(config: TracingConfig): (() => object) | undefined {
  if (!tracesUrl(config)) return undefined;
  return () => (spans ? spans.logFields() : NO_FIELDS);
}
const NO_FIELDS = {};

export interface Tracing {
  /** Whether spans are exported (an endpoint is configured). */
  enabled: boolean;
  /** Flushes the spans still queued, waiting a bounded time; then stops. */
  close(): Promise<void>;
}

export interface TracingOptions {
  /** The default service name: conveyor-web, conveyor-worker, conveyor-scheduler. */
  service: string;
  log: Logger;
  /** The process's Prometheus registry: `conveyor_trace_spans_dropped_total` is added to it. */
  registry?: Registry;
  /** How long close() waits for the last export (default 2 s). */
  flushMs?: number;
}

/** Starts tracing when OTEL_* configures an endpoint; otherwise loads nothing and returns a no-op. */
export async function startTracing(config: TracingConfig, opts: TracingOptions): Promise<Tracing> {
  const url = tracesUrl(config);
  if (!url) return { enabled: false, close: async () => {} };
  const { startSdk } = await import('./sdk.js');
  const started = await startSdk(config, url, opts);
  spans = started.hooks;
  return {
    enabled: true,
    close: async () => {
      await started.close();
      spans = undefined;
    },
  };
}
