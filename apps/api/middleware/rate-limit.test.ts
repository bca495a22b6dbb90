import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../../test/stack.js';
import { createApp } from '../app.js';

describe('rateLimitPerMinute', () => {
  let stack: TestStack;
  let second: ReturnType<typeof createApp>;

  beforeAll(async () => {
    stack = await startStack({ workers: false });
    // A second web process: same database, nothing in memory shared with the first.
    second = createApp({ db: stack.db, queues: stack.queues, config: stack.config, log: stack.log, engine: stack.engine, queueNames: [] });
  });
  afterAll(() => stack.close());

  const call = async (app: ReturnType<typeof createApp>, key: string, init: { method?: string; body?: unknown } = {}) => {
    const res = await app.request('/v1/workflows', {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${key}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      body: init.body ? JSON.stringify(init.body) : undefined,
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  };

  /** Keeps the test inside one minute window of the database clock. */
  async function awayFromMinuteEdge() {
    const { rows } = await sql<{ s: number }>`select extract(second from now())::float as s`.execute(stack.db);
    if (rows[0]!.s > 50) await new Promise((r) => setTimeout(r, (61 - rows[0]!.s) * 1000));
  }

  it('counts a key across web processes and answers 429 with Retry-After past the limit', async () => {
    const created = await stack.request('POST', '/v1/api-keys', { body: { name: 'limited', role: 'editor', rateLimitPerMinute: 5 } });
    expect(created.status).toBe(201);
    expect(created.body.rateLimitPerMinute).toBe(5);
    const key = created.body.secret as string;
    await awayFromMinuteEdge();
    for (let i = 0; i < 5; i++) {
      const res = await call(i % 2 === 0 ? stack.app : second, key);
      expect(res.status, `request ${i + 1}`).toBe(200);
      expect(res.headers.get('ratelimit-remaining')).toBe(String(4 - i));
    }
    const limited = await call(second, key);
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ error: { code: 'rate_limited', message: expect.stringContaining('5 requests a minute') } });
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // Refused before the handler: nothing is created.
    const refused = await call(stack.app, key, { method: 'POST', body: { name: 'limited-flow', nodes: [{ id: 'a', type: 'noop' }] } });
    expect(refused.status).toBe(429);
    expect((await stack.request('GET', '/v1/workflows/limited-flow')).status).toBe(404);

    // Other keys are not affected; an unlimited key writes no counter at all.
    expect((await call(second, stack.adminKey)).status).toBe(200);
    const counters = await stack.db.selectFrom('api_key_rate_windows').select(['api_key_id', 'count']).execute();
    expect(counters).toEqual([{ api_key_id: created.body.id, count: 7 }]);

    // The next window starts from zero.
    await stack.db.updateTable('api_key_rate_windows').set({ window_start: sql`window_start - interval '1 minute'` }).execute();
    expect((await call(stack.app, key)).status).toBe(200);
  });

  it('counts concurrent requests exactly', async () => {
    const created = await stack.request('POST', '/v1/api-keys', { body: { name: 'burst', role: 'viewer', rateLimitPerMinute: 10 } });
    await awayFromMinuteEdge();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i % 2 ? stack.app : second, created.body.secret)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(10);
    expect(results.filter((r) => r.status === 429)).toHaveLength(20);
  });
});
