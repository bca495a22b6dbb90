import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { AppError } from '../../../lib/errors.js';
import type { ApiEnv } from '../context.js';
import { errorBody } from '../errors.js';

/**
 * The console's built files (`npm run build` → dist/ui): index.html for every /ui/ page (the
 * client routes), and hashed assets cached for a year. Found beside the sources (tsx, vitest:
 * <repo>/dist/ui) or beside the built server (dist/apps/api/console → dist/ui).
 */
export function consoleDir(): string | undefined {
  for (const rel of ['../../../dist/ui/', '../../../ui/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    // The sources' ui/ has an index.html too, but never an assets/ folder.
    if (existsSync(path.join(dir, 'index.html')) && existsSync(path.join(dir, 'assets'))) return dir;
  }
  return undefined;
}

/** The page routes below: the console's, not API operations, so not in /openapi.json. */
export const CONSOLE_PAGE_ROUTES = ['GET /', 'GET /ui', 'GET /ui/assets/:file', 'GET /ui/*'];

/** No inline script or style: everything the page runs comes from /ui/assets. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.map': 'application/json',
};

interface Built {
  index: string;
  assets: Map<string, { body: Uint8Array<ArrayBuffer>; type: string }>;
}

function load(dir: string): Built {
  const assetsDir = path.join(dir, 'assets');
  const assets = new Map<string, { body: Uint8Array<ArrayBuffer>; type: string }>();
  if (existsSync(assetsDir)) {
    for (const name of readdirSync(assetsDir)) {
      const type = TYPES[path.extname(name)];
      if (type) assets.set(name, { body: new Uint8Array(readFileSync(path.join(assetsDir, name)).buffer.slice(0) as ArrayBuffer), type });
    }
  }
  return { index: readFileSync(path.join(dir, 'index.html'), 'utf8'), assets };
}

const notBuilt = () =>
  new AppError(503, 'console_not_built', 'The console is not built: run `npm run build` (npm start and npm test build it for you).');

/** GET / → /ui/; /ui/assets/<file>; every other /ui/ path is the console page. `dir` defaults to consoleDir(). */
export function staticConsoleRoutes(dir: string | undefined = consoleDir()) {
  let built: Built | undefined;
  const files = () => {
    if (!dir) throw notBuilt();
    built ??= load(dir);
    return built;
  };
  const app = new Hono<ApiEnv>();
  app.get('/', (c) => c.redirect('/ui/', 302));
  app.get('/ui', (c) => c.redirect('/ui/', 301));
  app.get('/ui/assets/:file', (c) => {
    const asset = files().assets.get(c.req.param('file'));
    if (!asset) return c.json(errorBody('not_found', 'No such console asset: reload the page (the console may have been updated).'), 404);
    return c.body(asset.body, 200, { 'content-type': asset.type, 'cache-control': 'public, max-age=31536000, immutable' });
  });
  app.get('/ui/*', (c) => {
    const { index } = files();
    c.header('content-security-policy', CONSOLE_CSP);
    c.header('cache-control', 'no-cache');
    return c.html(index);
  });
  return app;
}
