import { createRoute, type RouteConfig } from '@hono/zod-openapi';
import type { Role } from '../../db/types.js';
import { requireRole } from './middleware/auth.js';

/** Who may call a route: a key with at least this role, or anyone. */
export type Access = Role | 'public';

/**
 * Every route is declared through here, once: its zod shapes (validation, types and the
 * OpenAPI spec come from them) and the role it needs. A test walks the spec and fails on any
 * operation without `x-access`.
 */
export function defineRoute<const R extends Omit<RouteConfig, 'middleware' | 'security'>>(access: Access, config: R) {
  return createRoute({
    ...config,
    'x-access': access,
    security: access === 'public' ? [] : [{ bearerAuth: [] }],
    middleware: access === 'public' ? [] : [requireRole(access)],
  });
}
