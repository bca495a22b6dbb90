import { OpenAPIHono } from '@hono/zod-openapi';
import { createMetrics } from '../../lib/metrics.js';
import { createRunEventsHub } from '../../lib/run-events-hub.js';
import { BOARD_PATH, boardRoutes } from './board.js';
import type { ApiDeps, ApiEnv } from './context.js';
import { mountDocs } from './docs.js';
import { peopleConsoleRoutes } from './console/people-routes.js';
import { sessionRoutes, sessionStarter } from './console/session-routes.js';
import { staticConsoleRoutes } from './console/static.js';
import { handleError, handleNotFound, validationError } from './errors.js';
import { requireKey } from './middleware/auth.js';
import { jsonBodies, limitBody, maxBodyBytes } from './middleware/body.js';
import { rateLimit } from './middleware/rate-limit.js';
import { requestContext } from './middleware/request-context.js';
import { responseHeaders } from './middleware/security-headers.js';
import { saneUrls } from './middleware/url.js';
import { auditLogRoutes } from './routes/audit-log.js';
import { credentialRoutes } from './routes/credentials.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { hookRoutes } from './routes/hooks.js';
import { keyRoutes } from './routes/keys.js';
import { metricsRoutes } from './routes/metrics.js';
import { providerRoutes } from './routes/providers.js';
import { runRoutes } from './routes/runs.js';
import { scheduleRoutes } from './routes/schedules.js';
import { systemRoutes } from './routes/system.js';
import { importRoutes } from './routes/import.js';
import { peopleRoutes } from './routes/people.js';
import { workflowRoutes } from './routes/workflows.js';
import { createPeople } from '../../lib/people/deps.js';
import { workspaceRoutes } from './routes/workspaces.js';

/** The web process's Hono app. Pure: tests call `createApp(deps).request(...)` with no port. */
export function createApp(deps: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target === 'json' ? 'body' : result.target);
    },
  });
  app.use('*', requestContext(deps.log));
  app.use('*', responseHeaders((c) => [['X-Request-Id', c.get('requestId')]]));
  app.onError(handleError);
  app.notFound(handleNotFound);
  app.use('*', saneUrls());
  app.use('*', limitBody(maxBodyBytes(deps.config), { except: '/v1' }));

  app.route('/', healthRoutes(deps));
  app.route('/', metricsRoutes({ ...deps, metrics: deps.metrics ?? createMetrics({ process: 'web', queues: { backend: deps.queues, names: deps.queueNames } }) }));
  app.route(BOARD_PATH, boardRoutes(deps));
  // Public: a webhook authenticates by its signature (when it has a secret), not by an API key.
  app.route('/', hookRoutes(deps));
  // The console's session exchange (a cookie stands in for a key on /v1); its page is mounted last.
  app.route('/', sessionRoutes(deps));
  // Invitations, password resets and single sign-on: public, token- or issuer-authenticated.
  const people = deps.people ?? createPeople(deps.config, deps.db, deps.log);
  app.route('/', peopleConsoleRoutes(people, sessionStarter(deps)));
  app.use('/v1/*', requireKey(deps.db));
  app.use('/v1/*', rateLimit(deps.db));
  app.use('/v1/*', limitBody(maxBodyBytes(deps.config)));
  app.use('/v1/*', jsonBodies());
  app.route('/', importRoutes(deps)); // before /v1/workflows/:idOrName
  app.route('/', workflowRoutes(deps));
  app.route('/', runRoutes(deps));
  app.route('/', providerRoutes(deps));
  app.route('/', credentialRoutes(deps));
  app.route('/', keyRoutes(deps));
  app.route('/', scheduleRoutes(deps));
  app.route('/', workspaceRoutes(deps));
  app.route('/', auditLogRoutes(deps));
  app.route('/', eventRoutes({ ...deps, runEvents: deps.runEvents ?? createRunEventsHub({ db: deps.db, databaseUrl: deps.config.DATABASE_URL, log: deps.log }) }));
  app.route('/', systemRoutes(deps));
  app.route('/', peopleRoutes(deps, people));
  // Last: GET /ui/* answers the console's page for any path no route above took.
  app.route('/', staticConsoleRoutes());

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer' });
  mountDocs(app);
  return app;
}

export type App = ReturnType<typeof createApp>;
