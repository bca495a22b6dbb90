import { OpenAPIHono, z } from '@hono/zod-openapi';
import { metricsAuthorized, type Metrics } from '../../../lib/metrics.js';
import { AppError } from '../../../lib/errors.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { defineRoute } from '../route.js';

// Not an API key: Prometheus holds one static bearer token (METRICS_TOKEN), or none on a private network.
const metricsRoute = defineRoute('public', {
  method: 'get',
  path: '/metrics',
  tags: ['operations'],
  summary: 'Prometheus metrics of this web process (runs, node executions, queue depths, Node.js)',
  description: 'When METRICS_TOKEN is set, send it as `Authorization: Bearer <token>`; otherwise open (bind or firewall it).',
  responses: {
    200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
    401: { description: 'METRICS_TOKEN is set and was not sent' },
  },
});

export function metricsRoutes({ config, metrics }: ApiDeps & { metrics: Metrics }) {
  const app = new OpenAPIHono<ApiEnv>();
  app.openapi(metricsRoute, async (c) => {
    if (!metricsAuthorized(c.req.header('authorization'), config.METRICS_TOKEN)) {
      throw new AppError(401, 'unauthorized', 'Send METRICS_TOKEN as `Authorization: Bearer <token>`.', undefined, { 'www-authenticate': 'Bearer' });
    }
    const { contentType, body } = await metrics.render();
    return c.body(body, 200, { 'content-type': contentType }) as never;
  });
  return app;
}
