import { OpenAPIHono, z } from '@hono/zod-openapi';
import { forbidden } from '../../../lib/errors.js';
import { systemStatus } from '../../../lib/workers/system.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { defineRoute } from '../route.js';

const system = defineRoute('admin', {
  method: 'get',
  path: '/v1/system',
  tags: ['operations'],
  summary: 'Workers seen in the last 30 s (heartbeats, in-flight, queues), stuck consumers, and queue depths',
  description:
    'A worker is stuck when it missed three heartbeats, or when it has free slots and took no job for CONSUMER_STUCK_MS ' +
    'while one of its queues has jobs ready. Workers and queues are shared by every workspace: admins of the default workspace only.',
  responses: { 200: { description: 'the system status', content: { 'application/json': { schema: z.looseObject({}) } } } },
});

export function systemRoutes({ db, queues, queueNames, config }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();
  app.openapi(system, async (c) => {
    if (!c.get('principal').isDefaultWorkspace) throw forbidden('Only admins of the default workspace see the system status: workers and queues serve every workspace.');
    return c.json(await systemStatus({ db, queues, queueNames }, { stuckMs: config.CONSUMER_STUCK_MS }), 200);
  });
  return app;
}
