import type { Context } from '@opentelemetry/api';
import { TraceFlags } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type Span, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../logger.js';

export interface PipelineOptions {
  maxQueueSize: number;
  url: string;
  log: Logger;
  registry?: Registry;
}

/** While spans keep being dropped, one warning a minute per reason: a down collector must not flood the logs. */
const WARN_EVERY_MS = 60_000;

/**
 * The SDK's BatchSpanProcessor (ending a span only appends it to a bounded queue; exports run in
 * the background, one batch at a time) with what it drops counted in
 * `conveyor_trace_spans_dropped_total{reason}`: `queue_full` when the queue is at its bound (the
 * collector is slow or unreachable), `export_failed` when an export failed or timed out.
 * The queue's length is counted here (spans accepted minus spans handed to the exporter, which
 * the processor takes from its queue in the same tick) because the processor does not expose it.
 */
export function boundedPipeline(exporter: SpanExporter, opts: PipelineOptions): { processor: SpanProcessor } {
  const dropped = new Counter({
    name: 'conveyor_trace_spans_dropped_total',
    help: 'Spans not exported: queue_full (the export queue was at OTEL_BSP_MAX_QUEUE_SIZE) or export_failed (the collector refused, failed or timed out)',
    labelNames: ['reason'],
    registers: opts.registry ? [opts.registry] : [],
  });
  dropped.inc({ reason: 'queue_full' }, 0);
  dropped.inc({ reason: 'export_failed' }, 0);
  let accepted = 0;
  let handed = 0;
  const lastWarning = new Map<string, number>();
  let failing = false;

  const warn = (reason: string, fields: object) => {
    const now = Date.now();
    if (now - (lastWarning.get(reason) ?? 0) < WARN_EVERY_MS) return;
    lastWarning.set(reason, now);
    opts.log.warn({ endpoint: safeUrl(opts.url), reason, ...fields }, 'tracing: spans dropped (runs are not affected); is the OTLP endpoint reachable?');
  };

  const counting: SpanExporter = {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
      handed += spans.length;
      exporter.export(spans, (result) => {
        if (result.code === ExportResultCode.SUCCESS) {
          if (failing) opts.log.info({ endpoint: safeUrl(opts.url) }, 'tracing: exporting spans again');
          failing = false;
        } else {
          failing = true;
          dropped.inc({ reason: 'export_failed' }, spans.length);
          warn('export_failed', { spans: spans.length, err: result.error?.message });
        }
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };

  const batch = new BatchSpanProcessor(counting, { maxQueueSize: opts.maxQueueSize, maxExportBatchSize: Math.min(512, opts.maxQueueSize) });
  const processor: SpanProcessor = {
    onStart: (span: Span, parent: Context) => batch.onStart(span, parent),
    onEnd(span: ReadableSpan) {
      // Unsampled spans never enter the queue.
      if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0) {
        if (accepted - handed >= opts.maxQueueSize) {
          dropped.inc({ reason: 'queue_full' });
          warn('queue_full', { maxQueueSize: opts.maxQueueSize });
        } else {
          accepted++;
        }
      }
      batch.onEnd(span);
    },
    forceFlush: () => batch.forceFlush(),
    shutdown: () => batch.shutdown(),
  };
  return { processor };
}

/** Scheme, host and path only: an endpoint URL may carry a token in its query. */
export function safeUrl(raw: string): string {
  const u = new URL(raw);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
