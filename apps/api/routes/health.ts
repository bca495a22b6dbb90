import { OpenAPIHono, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import { pendingMigrations } from '../../../db/migrate.js';
import { withTimeout } from '../../../lib/queue.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { errorBody } from '../errors.js';
import { defineRoute } from '../route.js';

const ok = z.object({ status: z.literal('ok') });

const healthz = defineRoute('public', {
  method: 'get',
  path: '/healthz',
  summary: 'Liveness: the process answers',
  tags: ['health'],
  responses: { 200: { description: 'alive', content: { 'application/json': { schema: ok } } } },
});

const readyz = defineRoute('public', {
  method: 'get',
  path: '/readyz',
  summary: 'Readiness: database reachable and migrated, queue backend reachable',
  tags: ['health'],
  responses: {
    200: { description: 'ready', content: { 'application/json': { schema: ok.extend({ checks: z.record(z.string(), z.string()) }) } } },
    503: { description: 'a dependency is failing; details name it' },
  },
});

interface Check { dependency: string; message: string }

async function check(dependency: string, fn: () => Promise<string | undefined>): Promise<Check | undefined> {
  try {
    const problem = await fn();
    return problem ? { dependency, message: problem } : undefined;
  } catch (err) {
    return { dependency, message: (err as Error).message };
  }
}

export function healthRoutes({ db, queues }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();
  app.openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(readyz, async (c) => {
    const database = await check('database', async () => {
      await withTimeout(sql`select 1`.execute(db), 2000, 'PostgreSQL');
      return undefined;
    });
    const migrations = database
      ? undefined
      : await check('migrations', async () => {
          const pending = await withTimeout(pendingMigrations(db), 2000, 'PostgreSQL');
          return pending.length ? `pending migrations: ${pending.join(', ')}; run \`npm run migrate\`` : undefined;
        });
    const queue = await check(`queue (${queues.kind})`, async () => {
      await queues.ping(2000);
      return undefined;
    });
    const failing = [database, migrations, queue].filter((x): x is Check => x !== undefined);
    if (failing.length > 0) {
      const names = failing.map((f) => f.dependency).join(', ');
      return c.json(errorBody('not_ready', `Not ready: ${names} failing.`, failing.map((f) => ({ ...f }))), 503) as never;
    }
    return c.json({ status: 'ok' as const, checks: { database: 'ok', migrations: 'ok', queue: queues.kind } }, 200);
  });
  return app;
}
