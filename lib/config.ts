import { z } from 'zod';
import { invalidAllowEntries } from './http/address-policy.js';
import { PEOPLE_ENV, peopleProblems } from './people/env.js';
import { TRACING_ENV } from './tracing/env.js';

/**
 * Every environment variable Conveyor reads, validated once at start-up by `loadConfig`.
 * Nothing else reads `process.env`: processes receive a `Config`.
 */
const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const commaList = z
  .string()
  .transform((raw) => raw.split(',').map((s) => s.trim()).filter(Boolean));

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const envSchema = z.object({
  DATABASE_URL: z
    .string({ error: 'is required (a postgres:// URL; `npm start` provides an embedded one)' })
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL'),
  // Off behind a transaction-mode pooler (PgBouncer < 1.21, Supavisor) that cannot carry them.
  DATABASE_PREPARED_STATEMENTS: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('true')
    .transform((v) => v === 'true'),
  // Connections one process holds at most (unset: DEFAULT_POOL_SIZE for its kind); every process's
  // pool together must fit under the server's max_connections, and a busy pool makes queries wait.
  DATABASE_POOL_SIZE: intFrom(1, 500).optional(),
  // Unset selects BullMQ's PostgreSQL backend in DATABASE_URL: one service fewer to run.
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  // REDIS_URL names one seed node of a Redis Cluster; the client discovers the others from it.
  REDIS_CLUSTER: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((v) => v === 'true'),
  PORT: intFrom(1, 65535).default(3000),
  // Idle keep-alive connections stay open this long: above load balancers' 60 s idle, so a proxy
  // reusing one never meets a connection closed under it. The headers timeout is 1 s above it.
  HTTP_KEEP_ALIVE_TIMEOUT_MS: intFrom(1_000, 3_600_000).default(65_000),
  ENCRYPTION_KEY: z.string({ error: 'is required (base64 of 32 random bytes: `openssl rand -base64 32`)' }),
  BOOTSTRAP_API_KEY: z.string().min(16, 'must be at least 16 characters').max(256).optional(),
  // Node jobs are mostly I/O-bound (HTTP, LLM calls), so a worker can hold many at once.
  WORKER_CONCURRENCY: intFrom(1, 1000).default(10),
  WORKER_QUEUES: commaList.optional(),
  // Heroku and Render send SIGKILL 30 s after SIGTERM: drain within 25 s.
  SHUTDOWN_GRACE_MS: intFrom(0, 600_000).default(25_000),
  HTTP_ALLOW_HOSTS: commaList
    .superRefine((hosts, ctx) => {
      const bad = invalidAllowEntries(hosts);
      if (bad.length) ctx.addIssue({ code: 'custom', message: `must be hostnames, IPs or CIDRs; not: ${bad.join(', ')}` });
    })
    .default([]),
  MAX_NODE_OUTPUT_BYTES: intFrom(1024, 64 * 1024 * 1024).default(1024 * 1024),
  MAX_RUN_INPUT_BYTES: intFrom(1024, 64 * 1024 * 1024).default(1024 * 1024),
  RETENTION_DAYS: intFrom(1, 36_500).default(30),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  // A `{hash tag}` keeps every key of a queue in one Redis Cluster slot.
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}.-]{1,64}$/, 'must be 1-64 characters of letters, digits, _ . - { }')
    .default('conveyor'),
  WEBHOOK_WAIT_MS: intFrom(0, 300_000).default(30_000),
  // Requests per minute one webhook path accepts (across all web processes): a leaked URL cannot flood the queue.
  WEBHOOK_RATE_LIMIT_PER_MINUTE: intFrom(1, 1_000_000).default(600),
  // Wrong or missing signatures per minute one client address may send a webhook path before 429: generous for a
  // sender fixing its secret, while a flood is answered from memory. Valid signatures never count here.
  WEBHOOK_FAILED_ATTEMPTS_PER_MINUTE: intFrom(1, 1_000_000).default(60),
  // A cron tick first delivered later than this (every scheduler was down) is missed: catchUp decides.
  SCHEDULE_MISFIRE_GRACE_MS: intFrom(100, 3_600_000).default(2_000),
  // workflow.run nesting limit: a workflow that calls itself ends with a clear error, not a fork bomb.
  MAX_RUN_DEPTH: intFrom(1, 100).default(10),
  // How long a silent worker keeps a node: past it, another worker takes the node over.
  NODE_LOCK_MS: intFrom(1_000, 600_000).default(30_000),
  // Workers serve their own /metrics here when set; web serves them on PORT.
  METRICS_PORT: intFrom(1, 65535).optional(),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  // Proxies and PaaS routers drop a silent connection (Heroku after 55 s): an SSE comment keeps it open.
  SSE_KEEPALIVE_MS: intFrom(100, 300_000).default(15_000),
  // Each worker rewrites its row in `workers` this often; three missed beats make it "stuck".
  WORKER_HEARTBEAT_MS: intFrom(100, 300_000).default(5_000),
  // A live worker with free slots that took no job this long while its queue had waiting jobs is stuck.
  CONSUMER_STUCK_MS: intFrom(1_000, 3_600_000).default(60_000),
  // People: the system mailer, links in mail, OpenID Connect (lib/people/env.ts).
  ...PEOPLE_ENV,
  // OpenTelemetry traces (lib/tracing/env.ts): off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
  ...TRACING_ENV,
  // Provider plugins (npm package names or file paths, relative to the working directory) every process loads at start.
  CONVEYOR_PLUGINS: commaList.default([]),
});

/**
 * Each process's own pool when DATABASE_POOL_SIZE is unset: small and independent of
 * WORKER_CONCURRENCY (a node spends its time on HTTP and LLM calls, and a query waits for a free
 * connection). The scheduler's four ticks in flight each hold up to two connections.
 */
export const DEFAULT_POOL_SIZE = { web: 10, worker: 10, scheduler: 6 } as const;

export function poolSize(config: Pick<Config, 'DATABASE_POOL_SIZE'>, kind: keyof typeof DEFAULT_POOL_SIZE): number {
  return config.DATABASE_POOL_SIZE ?? DEFAULT_POOL_SIZE[kind];
}

export interface EncryptionKey {
  id: string;
  key: Uint8Array;
}

export type Config = Omit<z.infer<typeof envSchema>, 'ENCRYPTION_KEY'> & {
  /** The first key encrypts; every key decrypts (rotation). */
  ENCRYPTION_KEYS: EncryptionKey[];
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A single key's id: a bare key keeps this id forever, so adding keys later keeps it readable. */
export const DEFAULT_KEY_ID = 'default';

function parseEncryptionKeys(raw: string): { keys: EncryptionKey[]; problems: string[] } {
  const problems: string[] = [];
  const entries = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const keys: EncryptionKey[] = [];
  const single = entries.length === 1 && !entries[0]!.includes(':');
  for (const entry of entries) {
    const [id, b64] = single ? [DEFAULT_KEY_ID, entry] : splitOnce(entry, ':');
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      problems.push(`ENCRYPTION_KEY: key id "${id.slice(0, 40)}" must be 1-32 letters, digits, _ or -`);
      continue;
    }
    const key = Buffer.from(b64 ?? '', 'base64');
    if (key.length !== 32 || key.toString('base64') !== (b64 ?? '').replace(/\s/g, '')) {
      problems.push(`ENCRYPTION_KEY: key "${id}" must be base64 of exactly 32 bytes (openssl rand -base64 32)`);
      continue;
    }
    if (keys.some((k) => k.id === id)) problems.push(`ENCRYPTION_KEY: key id "${id}" appears twice`);
    keys.push({ id, key: new Uint8Array(key) });
  }
  if (entries.length === 0) problems.push('ENCRYPTION_KEY: is empty');
  return { keys, problems };
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** BullMQ's scripts touch several keys of a queue at once: on a cluster they must share one slot. */
function clusterProblems(env: { REDIS_CLUSTER: boolean; REDIS_URL?: string; QUEUE_PREFIX: string }): string[] {
  if (!env.REDIS_CLUSTER) return [];
  const problems: string[] = [];
  if (!env.REDIS_URL) problems.push('REDIS_CLUSTER: needs REDIS_URL (any one node of the cluster)');
  if (!/\{[^{}]+\}/.test(env.QUEUE_PREFIX)) problems.push(`QUEUE_PREFIX: must contain a {hash tag} on a Redis Cluster, e.g. {${env.QUEUE_PREFIX.replace(/[{}]/g, '')}}`);
  return problems;
}

/** Parses the environment; throws a ConfigError naming every problem at once. Pure: pass `process.env`. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // Empty strings mean "unset": PaaS dashboards and .env files often leave them behind.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
  const keys = typeof cleaned.ENCRYPTION_KEY === 'string' ? parseEncryptionKeys(cleaned.ENCRYPTION_KEY) : undefined;
  if (keys) problems.push(...keys.problems);
  if (parsed.success) problems.push(...clusterProblems(parsed.data), ...peopleProblems(parsed.data));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const { ENCRYPTION_KEY: _omit, ...rest } = parsed.data;
  return { ...rest, ENCRYPTION_KEYS: keys!.keys };
}

/** For process entry points: parse or print every problem and exit 1 before anything connects. */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
