import { z } from 'zod';

/**
 * The standard OpenTelemetry variables Conveyor reads (DESIGN.md, "Tracing"), validated with the
 * rest of the configuration in lib/config.ts so a bad value is named at start. Without an
 * endpoint nothing of the SDK is loaded.
 */
const otlpUrl = z
  .string()
  .regex(/^https?:\/\/[^\s/]+/i, 'must be an http:// or https:// URL (OTLP over HTTP; a collector listens on port 4318)')
  .refine((s) => URL.canParse(s), 'must be a valid URL');

const PROTOCOLS = ['http/protobuf', 'http/json'] as const;
const protocol = z.enum(PROTOCOLS, {
  error: 'must be http/protobuf or http/json (gRPC is not supported: use the OTLP/HTTP port of your collector, usually 4318)',
});

/** `key=value,key2=value2` with URL-encoded values (the spec's format). Problems never echo a value: it is often an API key. */
const headerList = z.string().transform((raw, ctx) => {
  const headers: Record<string, string> = {};
  for (const entry of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    const key = eq > 0 ? entry.slice(0, eq).trim() : '';
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(key)) {
      ctx.addIssue({ code: 'custom', message: 'must be comma-separated key=value pairs (e.g. x-honeycomb-team=<key>)' });
      return z.NEVER;
    }
    try {
      headers[key.toLowerCase()] = decodeURIComponent(entry.slice(eq + 1).trim());
    } catch {
      ctx.addIssue({ code: 'custom', message: `the value of ${key} is not valid URL encoding` });
      return z.NEVER;
    }
  }
  return headers;
});

export const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export const TRACING_ENV = {
  // Unset (with the traces endpoint unset too): tracing off, nothing loaded. A base URL: traces go to <url>/v1/traces.
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl.optional(),
  // The full traces URL, used as it is; wins over OTEL_EXPORTER_OTLP_ENDPOINT.
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl.optional(),
  // Protobuf is what every collector and vendor accepts, and smaller on the wire.
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol.default('http/protobuf'),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol.optional(),
  // Vendors' API keys go here (Honeycomb: x-honeycomb-team=<key>); never logged.
  OTEL_EXPORTER_OTLP_HEADERS: headerList.optional(),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: headerList.optional(),
  // One export's bound: an unreachable collector costs a batch of spans, never a run's time.
  OTEL_EXPORTER_OTLP_TIMEOUT: z.coerce.number().int().min(100).max(600_000).default(10_000),
  // Unset: conveyor-web, conveyor-worker or conveyor-scheduler, by process.
  OTEL_SERVICE_NAME: z.string().min(1).max(256).optional(),
  OTEL_TRACES_SAMPLER: z.enum(SAMPLERS, { error: `must be one of ${SAMPLERS.join(', ')}` }).default('parentbased_always_on'),
  // The ratio of traces kept by the traceidratio samplers.
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0, 'must be a ratio from 0 to 1').max(1, 'must be a ratio from 0 to 1').optional(),
  // Spans waiting for export at most; past it new spans are dropped (and counted), never waited for.
  OTEL_BSP_MAX_QUEUE_SIZE: z.coerce.number().int().min(1).max(1_000_000).default(2048),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none'], { error: 'must be otlp or none' }).default('otlp'),
  OTEL_SDK_DISABLED: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((v) => v === 'true'),
};

const tracingEnv = z.object(TRACING_ENV);
export type TracingConfig = z.infer<typeof tracingEnv>;

/** Where spans go, or undefined when tracing is off (no endpoint, OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER=none). */
export function tracesUrl(config: TracingConfig): string | undefined {
  if (config.OTEL_SDK_DISABLED || config.OTEL_TRACES_EXPORTER === 'none') return undefined;
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
}
