import { createRoute, z, type RouteConfig } from '@hono/zod-openapi';
import type { Role } from '../../db/types.js';
import { requireRole } from './middleware/auth.js';

/** Who may call a route: a key with at least this role, or anyone. */
export type Access = Role | 'public';

/** The one error shape of every answer that is not a success (apps/api/errors.ts). */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_failed' }),
      message: z.string(),
      details: z.array(z.looseObject({ pointer: z.string().optional(), message: z.string() })).optional(),
    }),
  })
  .openapi('Error', { description: 'Every error: a stable snake_case code, a message for people, and details naming each problem (JSON pointers into the request).' });

const error = (description: string) => ({ description, content: { 'application/json': { schema: ErrorSchema } } });

/**
 * A stable operationId from the method and path, the same every build:
 * `POST /v1/workflows/{idOrName}/runs` → `postWorkflowsByIdOrNameRuns`.
 */
export function operationIdFor(method: string, path: string): string {
  const words = path
    .split('/')
    .filter((part) => part && part !== 'v1')
    .map((part) => {
      const param = /^\{(\w+)\}$/.exec(part);
      const word = (param ? `by-${param[1]}` : part).replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ?? '').toUpperCase());
      return word.charAt(0).toUpperCase() + word.slice(1);
    });
  return method.toLowerCase() + words.join('');
}

/**
 * The error answers any operation may give, declared once here so the spec says what clients
 * meet: 400 when it takes input, 401/403/429 behind a key, 404 when its path names something,
 * 503 when the database refuses connections. A route's own declaration of a status wins.
 */
function errorResponses(access: Access, config: Omit<RouteConfig, 'middleware' | 'security'>) {
  const takesInput = Boolean(config.request && (config.request.body || config.request.query || config.request.params || config.request.headers));
  return {
    ...(takesInput ? { 400: error('the request is invalid: `details` names each problem') } : {}),
    ...(access === 'public' ? {} : { 401: error('no valid API key or console session'), 403: error("the caller's role (or kind) may not do this") }),
    ...(config.path.includes('{') ? { 404: error('nothing of that id or name in this workspace') } : {}),
    ...(access === 'public' ? {} : { 429: error("the key's rate limit is spent: wait Retry-After seconds") }),
    503: error('the database is not accepting connections: retry after Retry-After seconds'),
  };
}

/**
 * Every route is declared through here, once: its zod shapes (validation, types and the
 * OpenAPI spec come from them) and the role it needs. A test walks the spec and fails on any
 * operation without `x-access`.
 */
export function defineRoute<const R extends Omit<RouteConfig, 'middleware' | 'security'>>(access: Access, config: R) {
  return createRoute({
    ...config,
    operationId: config.operationId ?? operationIdFor(config.method, config.path),
    responses: { ...errorResponses(access, config), ...config.responses } as R['responses'],
    'x-access': access,
    security: access === 'public' ? [] : [{ bearerAuth: [] }],
    middleware: access === 'public' ? [] : [requireRole(access)],
  });
}
