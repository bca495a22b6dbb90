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
];

export interface LoggerOptions {
  level: string;
  /** Process name: web, worker, scheduler, cli... */
  name: string;
  destination?: pino.DestinationStream;
}

/** JSON lines on stdout; the dev launcher prettifies them, production ships them as they are. */
export function createLogger({ level, name, destination }: LoggerOptions): Logger {
  return pino(
    {
      level,
      base: { process: name, pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
