import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ApiEnv } from './context.js';

/** A docs page over /openapi.json; the renderer comes from a CDN so the server ships no UI assets. */
const DOCS_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Conveyor API</title><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<script id="api-reference" data-url="/openapi.json"></script>
<script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference"></script>
</body>
</html>`;

/** GET /openapi.json (generated from the same zod schemas that validate requests) and GET /docs. */
export function mountDocs(app: OpenAPIHono<ApiEnv>): void {
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Conveyor', version: '0.1.0', description: 'Queue-backed workflow engine: workflows, runs, credentials, keys.' },
    security: [{ bearerAuth: [] }],
  });
  app.get('/docs', (c) => {
    c.header('content-security-policy', "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; font-src https://fonts.gstatic.com https://cdn.jsdelivr.net data:; img-src 'self' data:; connect-src 'self'");
    return c.html(DOCS_HTML);
  });
}
