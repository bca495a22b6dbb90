import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../../db/types.js';
import { startStack, type TestStack } from '../../../test/stack.js';

const ROLES: Role[] = ['viewer', 'editor', 'admin'];
const RANK: Record<string, number> = { viewer: 1, editor: 2, admin: 3 };
const ACCESS = new Set(['public', ...ROLES]);

interface Operation { method: string; path: string; access: unknown; hasBody: boolean }

/** Every operation of the served spec: the route table this matrix is generated from. */
async function operations(stack: TestStack): Promise<Operation[]> {
  const spec = await stack.request('GET', '/openapi.json', { key: null });
  return Object.entries(spec.body.paths as Record<string, Record<string, Record<string, unknown>>>).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, access: op['x-access'], hasBody: op.requestBody !== undefined })),
  );
}

/** Path params filled with well-formed ids of nothing: an allowed role then gets 404 or 400, never 403. */
const concrete = (path: string) => path.replace(/\{idOrName\}/g, 'no-such-workflow').replace(/\{nodeId\}/g, 'no_node').replace(/\{[^}]+\}/g, () => randomUUID());

describe('role × route matrix (generated from the route table)', () => {
  let stack: TestStack;
  const keys: Record<string, string> = {};
  let ops: Operation[];

  beforeAll(async () => {
    stack = await startStack({ workers: false });
    keys.admin = stack.adminKey;
    for (const role of ['viewer', 'editor'] as const) {
      const res = await stack.request('POST', '/v1/api-keys', { body: { name: role, role } });
      expect(res.status).toBe(201);
      keys[role] = res.body.secret;
    }
    ops = await operations(stack);
  });
  afterAll(() => stack.close());

  it('declares an access level on every operation, and every /v1 route is in the table', () => {
    expect(ops.length).toBeGreaterThanOrEqual(20);
    const undeclared = ops.filter((op) => !ACCESS.has(op.access as string)).map((op) => `${op.method} ${op.path}`);
    expect(undeclared, 'operations without a declared role (declare them with defineRoute)').toEqual([]);
    const inSpec = new Set(ops.map((op) => `${op.method} ${op.path}`));
    const served = stack.app.routes
      .filter((r) => r.path.startsWith('/v1/') && r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    const unlisted = [...new Set(served)].filter((r) => !inSpec.has(r));
    expect(unlisted, '/v1 routes registered outside defineRoute: they have no declared role').toEqual([]);
    expect(ops.filter((op) => op.path.startsWith('/v1/')).every((op) => op.access !== 'public')).toBe(true);
  });

  it('gives each role exactly what its rank allows on every route, and 401 without a key', async () => {
    const failures: string[] = [];
    for (const op of ops.filter((o) => o.access !== 'public')) {
      const path = concrete(op.path);
      const anon = await stack.request(op.method, path, { key: null, body: op.hasBody ? {} : undefined });
      if (anon.status !== 401) failures.push(`${op.method} ${op.path} without a key: ${anon.status}`);
      for (const role of ROLES) {
        const res = await stack.request(op.method, path, { key: keys[role], body: op.hasBody ? {} : undefined });
        const allowed = RANK[role]! >= RANK[op.access as string]!;
        if (res.status >= 500) failures.push(`${op.method} ${op.path} as ${role}: ${res.status}`);
        // Routes about a person's own account answer a key 403 no_account: not a role decision.
        else if (allowed && (res.status === 401 || (res.status === 403 && res.body?.error?.code !== 'no_account'))) failures.push(`${op.method} ${op.path} as ${role}: ${res.status}, expected allowed`);
        else if (!allowed && (res.status !== 403 || res.body?.error?.code !== 'forbidden')) failures.push(`${op.method} ${op.path} as ${role}: ${res.status}, expected 403`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('keeps the handler from acting for a workspace when a route skips the role check', async () => {
    const { createApp } = await import('../app.js');
    const app = createApp({ db: stack.db, queues: stack.queues, config: stack.config, log: stack.log, engine: stack.engine, queueNames: [] });
    app.get('/v1/__undeclared', (c) => c.json({ workspace: c.get('principal')?.workspaceId ?? null }));
    const res = await app.request('/v1/__undeclared', { headers: { authorization: `Bearer ${stack.adminKey}` } });
    expect(await res.json()).toEqual({ workspace: null });
  });
});
