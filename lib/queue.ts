import {
  Queue,
  SchemaMigrationRequiredError,
  Worker,
  assertSchemaCompatibility,
  createPostgresBackend,
  runMigrations, type Processor, type WorkerOptions } from 'bullmq';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import pg from 'pg';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

/**
 * The only module that knows which queue backend is in use: BullMQ on Redis when REDIS_URL is
 * set, otherwise BullMQ's PostgreSQL backend (schema `bullmq`) in DATABASE_URL.
 */
export type QueueBackendKind = 'redis' | 'postgres';
/** A queue or worker on either backend: callers never see the backend's type parameters. */
export type JobQueue = Queue<any, any, string, any, any, string, any, any>;
export type JobWorker = Worker<any, any, string, any, any, any>;

export interface QueueBackend {
  readonly kind: QueueBackendKind;
  /** Where the queues live, without credentials: safe to log. */
  readonly description: string;
  /** A producer for `name`, cached; fails fast when the backend is down (HTTP path). */
  queue(name: string): JobQueue;
  worker(name: string, processor: Processor, opts: Omit<WorkerOptions, 'connection' | 'prefix'>): JobWorker;
  /** Resolves when the backend answers within `timeoutMs`; rejects naming the problem otherwise. */
  ping(timeoutMs?: number): Promise<void>;
  /** Closes workers first (letting in-flight jobs finish), then producers and connections. */
  close(): Promise<void>;
}

export const POSTGRES_QUEUE_SCHEMA = 'bullmq';
/** Connections a process's queues and workers share on the PostgreSQL backend. */
export const POSTGRES_QUEUE_POOL_MAX = 16;

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type QueueConfig = Pick<Config, 'REDIS_URL' | 'DATABASE_URL' | 'QUEUE_PREFIX'> & Partial<Pick<Config, 'REDIS_CLUSTER'>>;

export function createQueueBackend(config: QueueConfig, log: Logger): QueueBackend {
  return config.REDIS_URL
    ? createRedisQueueBackend(config.REDIS_URL, config.QUEUE_PREFIX, config.REDIS_CLUSTER ?? false, log)
    : createPostgresQueueBackend(config.DATABASE_URL, log);
}

/**
 * One connection to Redis, or to a Redis Cluster through one seed node: the URL's credentials
 * and TLS apply to every node the cluster client discovers.
 */
function redisConnection(url: string, options: RedisOptions, cluster: boolean): Redis | Cluster {
  if (!cluster) return new Redis(url, options);
  const u = new URL(url);
  const { enableOfflineQueue, ...nodeOptions } = options;
  return new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], {
    enableOfflineQueue,
    redisOptions: {
      ...nodeOptions,
      username: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      tls: u.protocol === 'rediss:' ? {} : undefined,
    },
  });
}

function createRedisQueueBackend(url: string, prefix: string, cluster: boolean, log: Logger): QueueBackend {
  // Producers answer HTTP requests: a command against a down Redis fails now instead of queueing.
  const producer = redisConnection(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 3000, lazyConnect: false }, cluster);
  producer.on('error', (err) => log.debug({ err: err.message }, 'redis producer connection error'));
  // Workers block on Redis and must ride out restarts: BullMQ requires maxRetriesPerRequest null.
  const workerOptions: RedisOptions = { maxRetriesPerRequest: null, connectTimeout: 3000 };
  const queues = new Map<string, JobQueue>();
  const workers: JobWorker[] = [];
  let warned = false;
  producer.once('ready', async () => {
    try {
      const reply = (await producer.config('GET', 'maxmemory-policy')) as string[];
      const policy = reply[1];
      if (policy !== 'noeviction' && !warned) {
        warned = true;
        log.warn({ policy }, 'Redis maxmemory-policy is not noeviction: Redis may evict queued jobs under memory pressure. Set `maxmemory-policy noeviction`.');
      }
    } catch {
      log.info('could not read Redis maxmemory-policy (CONFIG disabled?); make sure it is noeviction');
    }
  });
  return {
    kind: 'redis',
    description: `redis${cluster ? ' cluster' : ''} ${redactUrl(url)} prefix ${prefix}`,
    queue(name) {
      let q = queues.get(name);
      if (!q) {
        q = new Queue(name, { connection: producer, prefix });
        q.on('error', (err) => log.debug({ err: err.message, queue: name }, 'queue error'));
        queues.set(name, q);
      }
      return q;
    },
    worker(name, processor, opts) {
      const connection = redisConnection(url, workerOptions, cluster);
      connection.on('error', (err) => log.debug({ err: err.message }, 'redis worker connection error'));
      const w = new Worker(name, processor, { ...opts, connection, prefix });
      w.on('closed', () => connection.disconnect());
      workers.push(w);
      return w;
    },
    async ping(timeoutMs = 2000) {
      // Still connecting (just started, or reconnecting): wait for it within the bound, not fail at once.
      let onReady: (() => void) | undefined;
      const connected = producer.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => producer.once('ready', (onReady = resolve)));
      try {
        await withTimeout(connected.then(() => producer.ping()), timeoutMs, 'Redis');
      } finally {
        if (onReady) producer.off('ready', onReady);
      }
    },
    async close() {
      await Promise.allSettled(workers.map((w) => w.close()));
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
      producer.disconnect();
    },
  };
}

function createPostgresQueueBackend(databaseUrl: string, log: Logger): QueueBackend {
  const queues = new Map<string, JobQueue>();
  const workers: JobWorker[] = [];
  // One pool for every queue and worker of the process (BullMQ takes a pg.Pool as it is), so a
  // process holds a dozen connections, not a pool per queue: PostgreSQL's max_connections is
  // shared with the engine's own pools and every other process. Each worker keeps one of them
  // for its LISTEN; the search_path pins the queue schema, as BullMQ's own pools do.
  const shared = new pg.Pool({
    connectionString: databaseUrl,
    max: POSTGRES_QUEUE_POOL_MAX,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    options: `-c search_path=${POSTGRES_QUEUE_SCHEMA}`,
    application_name: 'conveyor-queue',
  });
  shared.on('error', () => {});
  // Every BullMQ queue and worker built over the pool adds its own 'error' listener to it.
  shared.setMaxListeners(100);
  const probe = new pg.Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 3000 });
  probe.on('error', () => {});
  return {
    kind: 'postgres',
    description: `postgres ${redactUrl(databaseUrl)} schema ${POSTGRES_QUEUE_SCHEMA}`,
    queue(name) {
      let q = queues.get(name);
      if (!q) {
        q = new Queue(name, { connection: shared }, createPostgresBackend);
        q.on('error', (err) => log.debug({ err: err.message, queue: name }, 'queue error'));
        queues.set(name, q);
      }
      return q;
    },
    worker(name, processor, opts) {
      const w = new Worker(name, processor, { ...opts, connection: shared }, createPostgresBackend);
      workers.push(w);
      return w;
    },
    async ping(timeoutMs = 2000) {
      await withTimeout(
        assertSchemaCompatibility(probe, POSTGRES_QUEUE_SCHEMA).catch((err) => {
          if (err instanceof SchemaMigrationRequiredError) {
            throw new Error(`queue schema "${POSTGRES_QUEUE_SCHEMA}" is not migrated: run \`npm run migrate\``);
          }
          throw err;
        }),
        timeoutMs,
        'PostgreSQL queue backend',
      );
    },
    async close() {
      await Promise.allSettled(workers.map((w) => w.close()));
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
      await probe.end().catch(() => {});
      // BullMQ's PostgreSQL worker force-closed while it starts up never hands back its LISTEN
      // client, and a pool ends only when every client is back: bounded, so shutdown goes on.
      await withTimeout(shared.end(), 5_000, 'the queue pool').catch((err: Error) =>
        log.warn({ err: err.message, checkedOut: shared.totalCount - shared.idleCount }, 'queue connections left open at close'),
      );
    },
  };
}

/** Applies BullMQ's own schema migrations when the PostgreSQL backend is in use (advisory-locked). */
export async function migrateQueueBackend(config: Pick<Config, 'REDIS_URL' | 'DATABASE_URL'>): Promise<number | undefined> {
  if (config.REDIS_URL) return undefined;
  const client = new pg.Client({ connectionString: config.DATABASE_URL });
  await client.connect();
  try {
    return await runMigrations(client, POSTGRES_QUEUE_SCHEMA);
  } finally {
    await client.end();
  }
}
