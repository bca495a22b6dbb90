import { OpenAPIHono, z } from '@hono/zod-openapi';
import { providerCatalog } from '../../../lib/providers/registry.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { defineRoute } from '../route.js';

const list = defineRoute('viewer', {
  method: 'get',
  path: '/v1/providers',
  tags: ['providers'],
  summary: 'Node types with their params as JSON Schema',
  responses: { 200: { description: 'providers', content: { 'application/json': { schema: z.looseObject({}) } } } },
});

export function providerRoutes({ engine }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();
  const catalog = providerCatalog(engine.registry);
  app.openapi(list, (c) => c.json({ items: catalog }, 200));
  return app;
}
