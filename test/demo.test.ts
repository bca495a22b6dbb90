import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_WORKFLOW, seedDemo } from '../scripts/seed-demo.js';
import { startStack, waitForRun, type TestStack } from './stack.js';

describe('the demo workflow npm start seeds', () => {
  let stack: TestStack;
  let server: ServerType;
  let url: string;
  beforeAll(async () => {
    // As scripts/dev.ts configures it: the SSRF guard lets localhost through.
    stack = await startStack({ env: { HTTP_ALLOW_HOSTS: 'localhost,127.0.0.1' } });
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: stack.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    url = `http://localhost:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await stack.close();
  });

  it('is seeded once, into an empty workspace only', async () => {
    expect(await seedDemo(url, stack.adminKey)).toBe(true);
    expect(await seedDemo(url, stack.adminKey)).toBe(false);
    const list = await stack.request('GET', '/v1/workflows');
    expect(list.body.items.map((w: { name: string }) => w.name)).toEqual([DEMO_WORKFLOW]);
  });

  it('runs: fan-out, a condition that holds, and an http.request to Conveyor itself', async () => {
    const started = await stack.request('POST', `/v1/workflows/${DEMO_WORKFLOW}/runs`, { body: { input: { name: 'you' } } });
    expect(started.status).toBe(202);
    const run = await waitForRun(stack, started.body.id);
    expect(run.status, JSON.stringify(run.nodes)).toBe('succeeded');
    const node = (id: string) => run.nodes.find((n: { id: string }) => n.id === id);
    expect(node('health')).toMatchObject({ status: 'succeeded', output: { status: 200, body: { status: 'ok' } } });
    expect(node('healthy')).toMatchObject({ status: 'succeeded' });
    expect(run.output).toEqual({ report: { greeting: 'Hello, you!', items: 3, health: 'succeeded' } });
    // The branches ran side by side: each started before the join began.
    const reportStart = Date.parse(node('report').startedAt);
    for (const id of ['greet', 'count', 'health']) expect(Date.parse(node(id).finishedAt)).toBeLessThanOrEqual(reportStart);
  });
});
