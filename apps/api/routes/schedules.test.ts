import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULE_CHANGES_CHANNEL } from '../../../db/schedules.js';
import { hashSecret } from '../../../lib/auth/api-keys.js';
import { SCHEDULE_QUEUE } from '../../../lib/jobs.js';
import { backends, startStack, type TestStack } from '../../../test/stack.js';

const workflow = { name: 'nightly', nodes: [{ id: 'a', type: 'noop' }] };

describe.each(backends())('schedules API on the %s backend', (backend) => {
  let stack: TestStack;
  let workspaceId: string;
  const jobScheduler = (id: string) => stack.queues.queue(SCHEDULE_QUEUE).getJobScheduler(id);

  beforeAll(async () => {
    stack = await startStack({ backend, workers: false });
    expect((await stack.request('POST', '/v1/workflows', { body: workflow })).status).toBe(201);
    workspaceId = (await stack.db.selectFrom('workspaces').select('id').where('is_default', '=', true).executeTakeFirstOrThrow()).id;
  });
  afterAll(() => stack.close());

  it('creates a schedule with defaults, shows its next 5 fire times, and puts a job scheduler on the queue', async () => {
    const res = await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '0 9 * * *', timezone: 'Europe/Berlin', input: { n: 1 } } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ workflowName: 'nightly', cron: '0 9 * * *', timezone: 'Europe/Berlin', input: { n: 1 }, enabled: true, overlap: 'allow', catchUp: 'none' });
    const times: string[] = res.body.nextFireTimes;
    expect(times).toHaveLength(5);
    for (const t of times) expect(new Date(t).toLocaleTimeString('sv-SE', { timeZone: 'Europe/Berlin' })).toBe('09:00:00');
    expect(new Date(times[0]!).getTime()).toBeGreaterThan(Date.now());
    const onQueue = await jobScheduler(res.body.id);
    expect(onQueue).toMatchObject({ pattern: '0 9 * * *', tz: 'Europe/Berlin', next: new Date(times[0]!).getTime() });

    const utc = await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '*/5  *  * * * *' } });
    expect(utc.status).toBe(201);
    expect(utc.body).toMatchObject({ cron: '*/5 * * * * *', timezone: 'UTC' });
    expect(new Date(utc.body.nextFireTimes[1]).getTime() - new Date(utc.body.nextFireTimes[0]).getTime()).toBe(5000);
  });

  it.each([
    [{ cron: '* * *' }, '/cron', /3 field/],
    [{ cron: '* * * * * * *' }, '/cron', /7 field/],
    [{ cron: '99 * * * *' }, '/cron', /not a valid cron expression/],
    [{ cron: '0 0 30 2 *' }, '/cron', /never fires/],
    [{ cron: '0 9 * * *', timezone: 'Mars/Olympus' }, '/timezone', /IANA/],
  ])('refuses %j with a 400 naming the problem, and stores nothing', async (fields, pointer, message) => {
    const before = await stack.db.selectFrom('schedules').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const res = await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', ...fields } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.message).toMatch(message);
    expect(res.body.error.details).toEqual([{ pointer, message: expect.stringMatching(message) }]);
    const after = await stack.db.selectFrom('schedules').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('refuses unknown workflows, unknown fields, wrong types and oversized input', async () => {
    const missing = await stack.request('POST', '/v1/schedules', { body: { workflow: 'nope', cron: '0 9 * * *' } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details).toEqual([{ pointer: '/workflow', message: 'no such workflow' }]);
    expect((await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '0 9 * * *', every: 5 } })).status).toBe(400);
    expect((await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '0 9 * * *', overlap: 'sometimes' } })).status).toBe(400);
    expect((await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: 5 } })).status).toBe(400);
    const big = await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '0 9 * * *', input: 'x'.repeat(stack.config.MAX_RUN_INPUT_BYTES + 10) } });
    expect(big.status).toBe(413);
  });

  it("applies the workspace's minimum interval (default 1 s)", async () => {
    const frequent = await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '* * * * * *' } });
    expect(frequent.status).toBe(201);
    await stack.db.updateTable('workspaces').set({ settings: JSON.stringify({ scheduleMinIntervalSeconds: 60 }) }).where('id', '=', workspaceId).execute();
    try {
      const res = await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '*/10 * * * * *' } });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0].message).toMatch(/every 10 s.*at least 60 s/);
      expect((await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '*/5 * * * *' } })).status).toBe(201);
      // An older schedule past the new minimum can still be changed in other ways (disabled, say), not re-timed.
      expect((await stack.request('PATCH', `/v1/schedules/${frequent.body.id}`, { body: { enabled: false } })).status).toBe(200);
      expect((await stack.request('PATCH', `/v1/schedules/${frequent.body.id}`, { body: { timezone: 'Europe/Paris' } })).status).toBe(400);
    } finally {
      await stack.db.updateTable('workspaces').set({ settings: '{}' }).where('id', '=', workspaceId).execute();
    }
  });

  it('reads, lists, patches and deletes; disabling and deleting remove the job scheduler at once', async () => {
    const created = await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '0 * * * *', overlap: 'skip', catchUp: 'latest' } });
    const id = created.body.id;
    const got = await stack.request('GET', `/v1/schedules/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, overlap: 'skip', catchUp: 'latest', nextFireTimes: created.body.nextFireTimes });

    const listed = await stack.request('GET', '/v1/schedules?limit=2');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toHaveLength(2);
    expect(listed.body.items[0].id).toBe(id);
    const next = await stack.request('GET', `/v1/schedules?limit=200&cursor=${listed.body.nextCursor}`);
    expect(next.body.items.map((s: { id: string }) => s.id)).not.toContain(id);
    expect((await stack.request('GET', '/v1/schedules?workflow=nope')).body.items).toEqual([]);

    const moved = await stack.request('PATCH', `/v1/schedules/${id}`, { body: { cron: '30 6 * * *', timezone: 'Asia/Tokyo' } });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ cron: '30 6 * * *', timezone: 'Asia/Tokyo', overlap: 'skip' });
    expect(await jobScheduler(id)).toMatchObject({ pattern: '30 6 * * *', tz: 'Asia/Tokyo', next: new Date(moved.body.nextFireTimes[0]).getTime() });
    expect((await stack.request('PATCH', `/v1/schedules/${id}`, { body: { cron: 'bad' } })).status).toBe(400);
    expect((await stack.request('GET', `/v1/schedules/${id}`)).body.cron).toBe('30 6 * * *');

    const off = await stack.request('PATCH', `/v1/schedules/${id}`, { body: { enabled: false } });
    expect(off.body).toMatchObject({ enabled: false, nextFireTimes: [] });
    expect(await jobScheduler(id)).toBeUndefined();
    expect((await stack.request('PATCH', `/v1/schedules/${id}`, { body: { enabled: true } })).status).toBe(200);
    expect(await jobScheduler(id)).toMatchObject({ pattern: '30 6 * * *' });

    expect((await stack.request('DELETE', `/v1/schedules/${id}`)).status).toBe(204);
    expect(await jobScheduler(id)).toBeUndefined();
    expect((await stack.request('GET', `/v1/schedules/${id}`)).status).toBe(404);
    expect((await stack.request('DELETE', `/v1/schedules/${id}`)).status).toBe(404);
    const actions = await stack.db.selectFrom('audit_log').select('action').where('target_id', '=', id).orderBy('id').execute();
    expect(actions.map((a) => a.action)).toEqual(['schedule.create', 'schedule.update', 'schedule.update', 'schedule.update', 'schedule.delete']);
  });

  it('archiving a workflow takes its schedules off the queue at once and tells every scheduler', async () => {
    expect((await stack.request('POST', '/v1/workflows', { body: { ...workflow, name: 'doomed' } })).status).toBe(201);
    const made = await stack.request('POST', '/v1/schedules', { body: { workflow: 'doomed', cron: '*/5 * * * * *' } });
    expect(made.status).toBe(201);
    expect(await jobScheduler(made.body.id)).toBeDefined();
    const listener = new pg.Client({ connectionString: stack.config.DATABASE_URL });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    await listener.query(`LISTEN ${SCHEDULE_CHANGES_CHANNEL}`);
    try {
      expect((await stack.request('DELETE', '/v1/workflows/doomed')).status).toBe(204);
      expect(await jobScheduler(made.body.id)).toBeUndefined();
      const deadline = Date.now() + 5_000;
      while (!heard.includes(made.body.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(heard).toContain(made.body.id);
    } finally {
      await listener.end();
    }
  });

  it('keeps workspaces apart and lets viewers only read', async () => {
    const own = await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '0 12 * * *' } });
    const other = await stack.db.insertInto('workspaces').values({ name: `other-${backend}` }).returning('id').executeTakeFirstOrThrow();
    const otherKey = `cvy_other_${backend}_0123456789abcdef`;
    const viewerKey = `cvy_viewer_${backend}_0123456789abcdef`;
    await stack.db
      .insertInto('api_keys')
      .values([
        { workspace_id: other.id, name: 'other', role: 'admin', secret_hash: hashSecret(otherKey), prefix: 'cvy_ot' },
        { workspace_id: workspaceId, name: 'viewer', role: 'viewer', secret_hash: hashSecret(viewerKey), prefix: 'cvy_vi' },
      ])
      .execute();
    expect((await stack.request('GET', `/v1/schedules/${own.body.id}`, { key: otherKey })).status).toBe(404);
    expect((await stack.request('PATCH', `/v1/schedules/${own.body.id}`, { key: otherKey, body: { enabled: false } })).status).toBe(404);
    expect((await stack.request('GET', '/v1/schedules', { key: otherKey })).body.items).toEqual([]);
    // The other workspace cannot schedule our workflow by name or id either.
    expect((await stack.request('POST', '/v1/schedules', { key: otherKey, body: { workflow: own.body.workflowId, cron: '0 9 * * *' } })).status).toBe(400);
    expect((await stack.request('GET', `/v1/schedules/${own.body.id}`, { key: viewerKey })).status).toBe(200);
    expect((await stack.request('POST', '/v1/schedules', { key: viewerKey, body: { workflow: 'nightly', cron: '0 9 * * *' } })).status).toBe(403);
    expect((await stack.request('DELETE', `/v1/schedules/${own.body.id}`, { key: viewerKey })).status).toBe(403);
  });
});
