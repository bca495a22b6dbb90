import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOARD_PATH } from './board.js';
import { CONSOLE_PAGE_ROUTES } from './console/static.js';
import { startStack, type TestStack } from '../../test/stack.js';

/** Routes that serve the docs themselves (the spec, the page and its assets): not API operations. */
const DOC_ROUTES = new Set(['GET /openapi.json', 'GET /docs', 'GET /docs/init.js', 'GET /docs/assets/:file']);

/** The operations DESIGN.md promises (method and OpenAPI path). */
const DESIGNED = [
  'GET /healthz', 'GET /readyz', 'GET /metrics',
  'POST /v1/workflows', 'GET /v1/workflows', 'GET /v1/workflows/{idOrName}', 'GET /v1/workflows/{idOrName}/versions',
  'PUT /v1/workflows/{idOrName}', 'DELETE /v1/workflows/{idOrName}', 'POST /v1/workflows/{idOrName}/runs',
  'GET /v1/runs', 'GET /v1/runs/{id}', 'GET /v1/runs/{id}/events', 'POST /v1/runs/{id}/cancel', 'POST /v1/runs/{id}/retry',
  'POST /v1/runs/{id}/nodes/{nodeId}/signal', 'POST /v1/credentials', 'GET /v1/credentials', 'POST /v1/schedules', 'GET /v1/schedules',
  'POST /hooks/{path}', 'POST /v1/api-keys', 'GET /v1/api-keys', 'DELETE /v1/api-keys/{id}', 'POST /v1/workspaces',
  'GET /v1/providers', 'GET /v1/audit-log', 'GET /v1/system',
];

describe('the OpenAPI spec and the docs page', () => {
  let stack: TestStack;
  let spec: { paths: Record<string, Record<string, unknown>> };
  beforeAll(async () => {
    stack = await startStack({ workers: false });
    spec = (await stack.request('GET', '/openapi.json', { key: null })).body;
  });
  afterAll(() => stack.close());

  it('lists every route the app serves (all declared once with zod), and everything DESIGN.md promises', () => {
    const inSpec = new Set(Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    const served = [...new Set(stack.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`))];
    expect(served.length).toBeGreaterThan(25);
    const missing = served
      .filter((r) => !DOC_ROUTES.has(r) && !CONSOLE_PAGE_ROUTES.includes(r) && !r.split(' ')[1]!.startsWith(BOARD_PATH))
      .map((r) => r.replace(/:(\w+)/g, '{$1}'))
      .filter((r) => !inSpec.has(r));
    expect(missing, 'routes registered without defineRoute/openapi: they have no schema, no docs and no declared role').toEqual([]);
    expect(DESIGNED.filter((r) => !inSpec.has(r))).toEqual([]);
    // The doc routes are really served (not a stale allow-list).
    for (const r of [...DOC_ROUTES, ...CONSOLE_PAGE_ROUTES]) expect(served).toContain(r);
  });

  it('documents the SSE stream and its resume parameters', () => {
    const op = spec.paths['/v1/runs/{id}/events']!.get as { parameters: { name: string; in: string }[]; responses: Record<string, { content: Record<string, unknown> }> };
    expect(op.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(['path:id', 'query:lastEventId', 'header:last-event-id']));
    expect(Object.keys(op.responses['200']!.content)).toEqual(['text/event-stream']);
  });

  it('serves a docs page whose every asset comes from this server (works offline, strict CSP)', async () => {
    const page = await stack.app.request('/docs');
    expect(page.status).toBe(200);
    const html = await page.text();
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs).toEqual(expect.arrayContaining(['/docs/assets/swagger-ui-bundle.js', '/docs/assets/swagger-ui.css', '/docs/init.js']));
    for (const ref of refs) {
      const res = await stack.app.request(ref);
      expect(res.status, ref).toBe(200);
      expect((await res.arrayBuffer()).byteLength, ref).toBeGreaterThan(50);
    }
    const bundle = await stack.app.request('/docs/assets/swagger-ui-bundle.js');
    expect(bundle.headers.get('content-type')).toContain('javascript');
    expect(html).toContain('data-spec="/openapi.json"');
    expect(await (await stack.app.request('/docs/init.js')).text()).toContain('SwaggerUIBundle({ url: el.dataset.spec');
    expect((await stack.app.request('/docs/assets/..%2Fpackage.json')).status).toBe(404);
    expect((await stack.app.request('/docs/assets/index.html')).status).toBe(404);
  });
});
