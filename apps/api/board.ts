import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type MiddlewareHandler } from 'hono';
import { AppError, forbidden } from '../../lib/errors.js';
import type { ApiDeps, ApiEnv } from './context.js';
import { authenticate, keyFromHeader } from './middleware/auth.js';

export const BOARD_PATH = '/admin/queues';

/**
 * Bull Board over the engine's queues. The queues are shared by every workspace, so only an
 * admin of the default workspace (the operator) may see them. A browser logs in with HTTP Basic,
 * any user name and an admin key as the password.
 */
function guard({ db }: ApiDeps): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const principal = await authenticate(db, keyFromHeader(c.req.header('authorization'), true));
    if (!principal) {
      throw new AppError(401, 'unauthorized', 'Bull Board needs an admin key: as Bearer, or as the password of HTTP Basic auth.', undefined, {
        'WWW-Authenticate': 'Basic realm="Conveyor queues", charset="UTF-8"',
      });
    }
    if (principal.role !== 'admin' || !principal.isDefaultWorkspace) {
      throw forbidden('Bull Board shows every workspace\'s queues: it needs an admin key of the default workspace.');
    }
    await next();
  };
}

export function boardRoutes(deps: ApiDeps) {
  const serverAdapter = new HonoAdapter(serveStatic);
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: deps.queueNames.map((name) => new BullMQAdapter(deps.queues.queue(name) as never, { readOnlyMode: false })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Conveyor' } },
  });
  const app = new Hono<ApiEnv>();
  app.use('*', guard(deps));
  app.route('/', serverAdapter.registerPlugin());
  return app;
}
