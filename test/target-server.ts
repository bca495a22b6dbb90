import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the target server received, recorded for assertions. */
export interface RecordedRequest {
  method: string;
  /** Path with query string, as sent. */
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Set when the client went away before the response ended (an aborted provider). */
  aborted?: boolean;
}

export type Handler = (req: IncomingMessage & { body: string }, res: ServerResponse) => void;

export interface TargetServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Adds or replaces a route for an exact path (query string ignored). */
  route(method: string, path: string, handler: Handler): void;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * The outside world for http.request nodes: a real HTTP server on 127.0.0.1 with
 * the few behaviours tests need (status codes, slowness, redirects, large bodies, echo).
 */
export async function startTargetServer(): Promise<TargetServer> {
  const requests: RecordedRequest[] = [];
  const routes = new Map<string, Handler>();
  const timers = new Set<NodeJS.Timeout>();

  const builtIn = (req: IncomingMessage & { body: string }, res: ServerResponse, url: URL): void => {
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (status) return json(res, Number(status[1]), { status: Number(status[1]) });
    switch (url.pathname) {
      case '/json':
        return json(res, 200, { ok: true, n: 42, items: [1, 2, 3] });
      case '/slow': {
        const timer = setTimeout(() => {
          timers.delete(timer);
          json(res, 200, { slept: Number(url.searchParams.get('ms') ?? 0) });
        }, Number(url.searchParams.get('ms') ?? 1000));
        timers.add(timer);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      case '/redirect':
        res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: url.searchParams.get('to') ?? '/json' });
        return void res.end();
      case '/big': {
        const bytes = Number(url.searchParams.get('bytes') ?? 1024);
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(bytes) });
        return void res.end('x'.repeat(bytes));
      }
      case '/echo':
        return json(res, 200, { method: req.method, path: url.pathname + url.search, headers: req.headers, body: req.body });
      default:
        return json(res, 404, { error: 'no such route' });
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const record: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(record);
      res.on('close', () => {
        if (!res.writableEnded) record.aborted = true;
      });
      const url = new URL(req.url ?? '/', 'http://target');
      const withBody = Object.assign(req, { body: record.body });
      const handler = routes.get(`${req.method} ${url.pathname}`);
      try {
        if (handler) handler(withBody, res);
        else builtIn(withBody, res, url);
      } catch (err) {
        json(res, 500, { error: String(err) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    route: (method, path, handler) => void routes.set(`${method.toUpperCase()} ${path}`, handler),
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
