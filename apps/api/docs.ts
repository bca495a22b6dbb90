import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ApiEnv } from './context.js';

/**
 * GET /docs: Swagger UI from the `swagger-ui-dist` npm package, its assets served by us, so the
 * page works offline and behind a strict CSP. (A Scalar page needs @scalar/api-reference's
 * browser bundle, which drags ~250 MB of dependencies into a production install.)
 */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><title>Conveyor API</title><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"><link rel="icon" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="docs" data-spec="/openapi.json"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>`;

// An API key typed into "Authorize" is kept for the page's life only (persistAuthorization off).
const INIT_JS = `const el = document.getElementById('docs');
window.ui = SwaggerUIBundle({ url: el.dataset.spec, dom_id: '#docs', deepLinking: true, tryItOutEnabled: false, persistAuthorization: false });
`;

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

let cache: Map<string, Buffer> | undefined;
function asset(name: string): Buffer {
  if (!cache) {
    const dir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
    cache = new Map(Object.keys(ASSETS).map((f) => [f, readFileSync(path.join(dir, f))]));
  }
  return cache.get(name)!;
}

/** GET /openapi.json (generated from the same zod schemas that validate requests) and GET /docs. */
export function mountDocs(app: OpenAPIHono<ApiEnv>): void {
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Conveyor', version: '0.1.0', description: 'Queue-backed workflow engine: workflows, runs, live events, credentials, schedules, keys.' },
    // Relative: the spec describes whichever host serves it (behind any proxy or domain).
    servers: [{ url: '/', description: 'the server this spec came from' }],
    security: [{ bearerAuth: [] }],
  });
  app.get('/docs', (c) => {
    c.header('content-security-policy', CSP);
    return c.html(DOCS_HTML);
  });
  app.get('/docs/init.js', (c) => c.body(INIT_JS, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }));
  app.get('/docs/assets/:file', (c) => {
    const type = ASSETS[c.req.param('file')];
    if (!type) return c.json({ error: { code: 'not_found', message: 'no such docs asset' } }, 404);
    return c.body(new Uint8Array(asset(c.req.param('file'))), 200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
  });
}
