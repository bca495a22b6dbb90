import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log object. Secrets should
 * never be logged in the first place; this is the net under that rule.
 */
export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.cookie',
  '*.headers.authorization',
  'credential',
  '*.credential',
  'credential.data',
  'data.apiKey',
  'data.token',
  'data.password',
  'data.secret',
  'data.value',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
  'password',
  '*.password',
  'ENCRYPTION_KEY',
  'BOOTSTRAP_API_KEY',
  'config.ENCRYPTION_KEYS',
  'ENCRYPTION_KEYS',
  // OTLP headers carry vendors' API keys (Honeycomb's x-honeycomb-team).
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  'config.OTEL_EXPORTER_OTLP_HEADERS',
  'config.OTEL_EXPORTER_OTLP_TRACES_HEADERS',
];

export interface LoggerOptions {
  level: string;
  /** Process name: web, worker, scheduler, cli... */
  name: string;
  destination?: pino.DestinationStream;
  /** Fields added to every line, e.g. the active span's trace_id (lib/tracing); unset costs nothing. */
  mixin?: () => object;
}

/** JSON lines on stdout; the dev launcher prettifies them, production ships them as they are. */
export function createLogger({ level, name, destination, mixin }: LoggerOptions): Logger {
  return pino(
    {
      level,
      base: { process: name, pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      ...(mixin ? { mixin } : {}),
    },
    destination,
  );
}

/**
 * A Logger that is `make()`'s, made on first use: a child logger costs its bindings' serialisation
 * and redaction, too much to pay per request or per node for lines that are mostly never written.
 */
export function lazyLogger(make: () => Logger): Logger {
  let made: Logger | undefined;
  return new Proxy({} as Logger, {
    get(_target, prop) {
      const target = (made ??= make());
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
