import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_KEY_ID, DEFAULT_POOL_SIZE, loadConfig, poolSize } from './config.js';

const key = () => randomBytes(32).toString('base64');
const valid = { DATABASE_URL: 'postgres://u@localhost/db', ENCRYPTION_KEY: key() };

function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(valid);
    expect(c).toMatchObject({
      PORT: 3000,
      WORKER_CONCURRENCY: 10,
      SHUTDOWN_GRACE_MS: 25_000,
      MAX_NODE_OUTPUT_BYTES: 1024 * 1024,
      MAX_RUN_INPUT_BYTES: 1024 * 1024,
      RETENTION_DAYS: 30,
      LOG_LEVEL: 'info',
      QUEUE_PREFIX: 'conveyor',
      HTTP_ALLOW_HOSTS: [],
      WEBHOOK_WAIT_MS: 30_000,
      WEBHOOK_RATE_LIMIT_PER_MINUTE: 600,
      WEBHOOK_FAILED_ATTEMPTS_PER_MINUTE: 60,
      DATABASE_PREPARED_STATEMENTS: true,
    });
    expect(c.REDIS_URL).toBeUndefined();
    expect(c.ENCRYPTION_KEYS).toHaveLength(1);
    expect(c.ENCRYPTION_KEYS[0]!.id).toBe(DEFAULT_KEY_ID);
    expect(c).not.toHaveProperty('ENCRYPTION_KEY');
  });

  it('names every problem at once', () => {
    const found = problems({
      PORT: 'eighty',
      WORKER_CONCURRENCY: '0',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'http://x',
      QUEUE_PREFIX: 'has:colon',
      SHUTDOWN_GRACE_MS: '-1',
      DATABASE_PREPARED_STATEMENTS: 'yes',
    });
    const text = found.join('\n');
    for (const name of ['DATABASE_URL', 'ENCRYPTION_KEY', 'PORT', 'WORKER_CONCURRENCY', 'LOG_LEVEL', 'REDIS_URL', 'QUEUE_PREFIX', 'SHUTDOWN_GRACE_MS', 'DATABASE_PREPARED_STATEMENTS']) {
      expect(text).toContain(name);
    }
    expect(found.length).toBeGreaterThanOrEqual(9);
  });

  it('on a Redis Cluster, needs REDIS_URL and a {hash tag} in QUEUE_PREFIX, named together', () => {
    expect(problems({ ...valid, REDIS_CLUSTER: 'true' })).toEqual([
      'REDIS_CLUSTER: needs REDIS_URL (any one node of the cluster)',
      'QUEUE_PREFIX: must contain a {hash tag} on a Redis Cluster, e.g. {conveyor}',
    ]);
    expect(problems({ ...valid, REDIS_CLUSTER: 'yes' })).toEqual(['REDIS_CLUSTER: must be true or false']);
    expect(loadConfig({ ...valid, REDIS_CLUSTER: 'true', REDIS_URL: 'redis://n1:7000', QUEUE_PREFIX: '{conveyor}' }).REDIS_CLUSTER).toBe(true);
    expect(loadConfig(valid).REDIS_CLUSTER).toBe(false);
  });

  it('takes single sign-on as all four OIDC variables or none, https unless on loopback', () => {
    const oidc = { OIDC_ISSUER: 'https://id.example.test', OIDC_CLIENT_ID: 'conveyor', OIDC_CLIENT_SECRET: 's3cret-value', OIDC_REDIRECT_URL: 'https://conveyor.example.test/ui/oidc/callback' };
    expect(loadConfig({ ...valid, ...oidc })).toMatchObject({ OIDC_DEFAULT_ROLE: 'viewer', OIDC_ALLOWED_DOMAINS: [] });
    expect(problems({ ...valid, OIDC_ISSUER: oidc.OIDC_ISSUER })).toEqual([
      'OIDC: set all of OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URL for single sign-on (missing OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URL)',
    ]);
    expect(problems({ ...valid, ...oidc, OIDC_ISSUER: 'http://id.example.test' })).toEqual(['OIDC_ISSUER: must be https:// (http:// only on a loopback address)']);
    expect(loadConfig({ ...valid, ...oidc, OIDC_ISSUER: 'http://127.0.0.1:5556', OIDC_ALLOWED_DOMAINS: 'Example.test, corp.test' }).OIDC_ALLOWED_DOMAINS).toEqual(['example.test', 'corp.test']);
    const bad = problems({ ...valid, SMTP_URL: 'http://user:hunter2@mail', OIDC_DEFAULT_ROLE: 'owner', PUBLIC_URL: 'ftp://x' });
    expect(bad).toEqual(['SMTP_URL: must be an smtp:// or smtps:// URL', 'PUBLIC_URL: must be an http:// or https:// URL', 'OIDC_DEFAULT_ROLE: must be admin, editor or viewer']);
    expect(bad.join(' ')).not.toContain('hunter2');
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ ...valid, REDIS_URL: '', PORT: '' }).PORT).toBe(3000);
  });

  it('turns prepared statements off with false', () => {
    expect(loadConfig({ ...valid, DATABASE_PREPARED_STATEMENTS: 'false' }).DATABASE_PREPARED_STATEMENTS).toBe(false);
  });

  it('sizes each process\'s pool from DATABASE_POOL_SIZE, else a small default per kind', () => {
    const unset = loadConfig(valid);
    expect(unset.DATABASE_POOL_SIZE).toBeUndefined();
    expect([poolSize(unset, 'web'), poolSize(unset, 'worker'), poolSize(unset, 'scheduler')]).toEqual([DEFAULT_POOL_SIZE.web, DEFAULT_POOL_SIZE.worker, DEFAULT_POOL_SIZE.scheduler]);
    // Not derived from concurrency: a worker taking 200 jobs at once still holds its default.
    expect(poolSize(loadConfig({ ...valid, WORKER_CONCURRENCY: '200' }), 'worker')).toBe(DEFAULT_POOL_SIZE.worker);
    const set = loadConfig({ ...valid, DATABASE_POOL_SIZE: '4' });
    expect([poolSize(set, 'web'), poolSize(set, 'worker'), poolSize(set, 'scheduler')]).toEqual([4, 4, 4]);
    for (const bad of ['0', '-3', '2.5', 'ten', '100000']) expect(problems({ ...valid, DATABASE_POOL_SIZE: bad }).join(), bad).toContain('DATABASE_POOL_SIZE');
  });

  it('takes the failed-signature budget as a whole number of at least 1', () => {
    expect(loadConfig({ ...valid, WEBHOOK_FAILED_ATTEMPTS_PER_MINUTE: '5' }).WEBHOOK_FAILED_ATTEMPTS_PER_MINUTE).toBe(5);
    for (const bad of ['0', '-1', '2.5', 'many']) expect(problems({ ...valid, WEBHOOK_FAILED_ATTEMPTS_PER_MINUTE: bad }).join(), bad).toContain('WEBHOOK_FAILED_ATTEMPTS_PER_MINUTE');
  });

  it('parses comma lists', () => {
    const c = loadConfig({ ...valid, HTTP_ALLOW_HOSTS: 'api.example.com, 10.0.0.0/8 ,', WORKER_QUEUES: 'nodes,llm' });
    expect(c.HTTP_ALLOW_HOSTS).toEqual(['api.example.com', '10.0.0.0/8']);
    expect(c.WORKER_QUEUES).toEqual(['nodes', 'llm']);
  });

  it('accepts id:key rotation lists, the first current', () => {
    const c = loadConfig({ ...valid, ENCRYPTION_KEY: `k2:${key()},k1:${key()}` });
    expect(c.ENCRYPTION_KEYS.map((k) => k.id)).toEqual(['k2', 'k1']);
    expect(c.ENCRYPTION_KEYS[0]!.key).toHaveLength(32);
  });

  it('rejects keys that are not 32 bytes of base64, duplicate ids and bad ids', () => {
    expect(problems({ ...valid, ENCRYPTION_KEY: 'short' }).join()).toMatch(/32 bytes/);
    expect(problems({ ...valid, ENCRYPTION_KEY: randomBytes(16).toString('base64') }).join()).toMatch(/32 bytes/);
    const k = key();
    expect(problems({ ...valid, ENCRYPTION_KEY: `a:${k},a:${key()}` }).join()).toMatch(/twice/);
    expect(problems({ ...valid, ENCRYPTION_KEY: `bad id!:${k}` }).join()).toMatch(/key id/);
  });

  it('never echoes a secret value in a problem', () => {
    const secret = 'not-base64-secret-value-!!';
    expect(problems({ ...valid, ENCRYPTION_KEY: secret }).join()).not.toContain(secret);
    expect(problems({ ...valid, BOOTSTRAP_API_KEY: 'short' }).join()).not.toContain('short');
  });
});
