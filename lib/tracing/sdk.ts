import { ROOT_CONTEXT, SpanStatusCode, context, trace, type Span } from '@opentelemetry/api';
import { parseTraceParent } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, AlwaysOnSampler, NodeTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler, type Sampler } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { assertNever } from '../errors.js';
import type { TracingConfig } from './env.js';
import type { NodeSpanInfo, RunSpanInfo, SpanHooks, TracingOptions } from './index.js';
import { boundedPipeline, safeUrl } from './pipeline.js';

/**
 * The OpenTelemetry SDK, imported only when an endpoint is configured (index.ts): a tracer
 * provider with one batch processor (bounded queue) and an OTLP/HTTP exporter, protobuf or JSON.
 */
export async function startSdk(config: TracingConfig, url: string, opts: TracingOptions): Promise<{ hooks: SpanHooks; close(): Promise<void> }> {
  const json = (config.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? config.OTEL_EXPORTER_OTLP_PROTOCOL) === 'http/json';
  const { OTLPTraceExporter } = json ? await import('@opentelemetry/exporter-trace-otlp-http') : await import('@opentelemetry/exporter-trace-otlp-proto');
  const exporter = new OTLPTraceExporter({
    url,
    headers: { ...config.OTEL_EXPORTER_OTLP_HEADERS, ...config.OTEL_EXPORTER_OTLP_TRACES_HEADERS },
    timeoutMillis: config.OTEL_EXPORTER_OTLP_TIMEOUT,
  });
  const pipeline = boundedPipeline(exporter, { maxQueueSize: config.OTEL_BSP_MAX_QUEUE_SIZE, url, log: opts.log, registry: opts.registry });
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.OTEL_SERVICE_NAME ?? opts.service })),
    sampler: samplerFor(config),
    spanProcessors: [pipeline.processor],
  });
  // The AsyncLocalStorage context manager: a node's span stays active across its awaits.
  provider.register();
  const tracer = provider.getTracer('conveyor');
  opts.log.info({ endpoint: safeUrl(url), protocol: json ? 'http/json' : 'http/protobuf', sampler: config.OTEL_TRACES_SAMPLER }, 'tracing: exporting spans with OpenTelemetry');

  const hooks: SpanHooks = {
    async runCreation(info: RunSpanInfo, create) {
      // Every run is its own trace; a child run links to the span of the workflow.run node that started it.
      const parentSpan = info.parent ? trace.getSpan(context.active()) : undefined;
      const span = tracer.startSpan(
        'run',
        {
          root: true,
          attributes: {
            'conveyor.workflow_id': info.workflowId,
            'conveyor.workflow_version': info.version,
            'conveyor.trigger': info.trigger.type,
            ...(info.retryOf ? { 'conveyor.retry_of': info.retryOf } : {}),
            ...(info.parent ? { 'conveyor.parent_run_id': info.parent.runId, 'conveyor.parent_node_id': info.parent.nodeId } : {}),
          },
          links: parentSpan ? [{ context: parentSpan.spanContext() }] : [],
        },
        ROOT_CONTEXT,
      );
      try {
        const started = await context.with(trace.setSpan(ROOT_CONTEXT, span), () => create(traceparentOf(span)));
        span.setAttributes({ 'conveyor.run_id': started.run.id, 'conveyor.status': started.run.status, 'conveyor.created': started.created });
        return started;
      } catch (err) {
        fail(span, err);
        throw err;
      } finally {
        span.end();
      }
    },

    async node(traceparent, info: NodeSpanInfo, execute, thrownStatus) {
      const remote = traceparent ? parseTraceParent(traceparent) : null;
      // Written by another process (the run's creator): a remote parent, as the samplers expect.
      const parent = remote ? trace.setSpanContext(ROOT_CONTEXT, { ...remote, isRemote: true }) : ROOT_CONTEXT;
      const span = tracer.startSpan(
        `node ${info.type}`,
        {
          attributes: {
            'conveyor.run_id': info.runId,
            'conveyor.node_id': info.nodeId,
            'conveyor.node_type': info.type,
            'conveyor.attempt': info.attempt,
          },
        },
        parent,
      );
      try {
        const result = await context.with(trace.setSpan(parent, span), execute);
        span.setAttribute('conveyor.status', result.status);
        return result;
      } catch (err) {
        span.setAttribute('conveyor.status', thrownStatus(err));
        fail(span, err);
        throw err;
      } finally {
        span.end();
      }
    },

    outboundTraceparent() {
      const span = trace.getSpan(context.active());
      return span ? traceparentOf(span) : undefined;
    },

    logFields() {
      const span = trace.getSpan(context.active());
      if (!span) return {};
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
  };

  return {
    hooks,
    async close() {
      // Bounded: an unreachable collector must not hold the shutdown grace period.
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, opts.flushMs ?? 2_000)));
      await Promise.race([provider.shutdown().catch(() => {}), waited]);
      clearTimeout(timer);
      trace.disable();
      context.disable();
    },
  };
}

function traceparentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-0${traceFlags & 1}`;
}

function fail(span: Span, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: message.slice(0, 500) });
}

function samplerFor(config: TracingConfig): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG ?? 1);
  switch (config.OTEL_TRACES_SAMPLER) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    default:
      return assertNever(config.OTEL_TRACES_SAMPLER);
  }
}
