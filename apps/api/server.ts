import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { serve, type HttpBindings } from '@hono/node-server';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { answerClientErrors } from './client-errors.js';

/** How long a connection answered early keeps reading (and discarding) what the client still sends. */
export const LINGER_MS = 2_000;

/**
 * Node's timeouts from HTTP_KEEP_ALIVE_TIMEOUT_MS: the headers timeout sits above the idle
 * keep-alive, so a request sent on a connection just before it idles out is never cut short,
 * and it is checked every second (Node's default checks every 30 s, so a slowloris client would
 * live up to 30 s longer). The request timeout only bounds receiving a request, never a response.
 */
export function serverTimeouts(config: Pick<Config, 'HTTP_KEEP_ALIVE_TIMEOUT_MS'>) {
  const keepAliveTimeout = config.HTTP_KEEP_ALIVE_TIMEOUT_MS;
  const headersTimeout = keepAliveTimeout + 1_000;
  return { keepAliveTimeout, headersTimeout, requestTimeout: Math.max(300_000, headersTimeout), connectionsCheckingInterval: 1_000 };
}

type Fetch = (request: Request, env: HttpBindings) => Response | Promise<Response>;

/**
 * Serves the app with the contract's timeouts, the JSON answer to unparseable requests, and a
 * clean close after answering a request whose body was not read to its end (a 413, 415 or 401
 * sent before the upload finished): `Connection: close` tells a keep-alive client not to reuse
 * the connection, and the server keeps discarding the rest of the body for a moment before
 * closing, so the client reads the answer rather than a reset.
 */
export function serveApi(
  app: { fetch: Fetch },
  config: Pick<Config, 'HTTP_KEEP_ALIVE_TIMEOUT_MS'>,
  log: Logger,
  listen: { port: number; hostname: string },
  onListening?: (info: { port: number }) => void,
): Server {
  const { keepAliveTimeout, ...serverOptions } = serverTimeouts(config);
  const fetch: Fetch = (request, env) => {
    const res = app.fetch(request, env);
    if (!hasBody(env.incoming)) return res;
    if (res instanceof Promise) return res.then((r) => closeIfUnread(env, r));
    // Answered in the tick the request arrived: the parser may not have reached the end of a body
    // that came in the same packet yet; after this tick, `complete` says.
    return new Promise((resolve) => setImmediate(() => resolve(closeIfUnread(env, res))));
  };
  const server = serve({ fetch: fetch as never, ...listen, serverOptions }, onListening) as Server;
  server.keepAliveTimeout = keepAliveTimeout;
  answerClientErrors(server, log);
  return server;
}

function hasBody(incoming: IncomingMessage): boolean {
  const length = incoming.headers['content-length'];
  return incoming.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function closeIfUnread(env: HttpBindings, res: Response): Response {
  const { incoming, outgoing } = env;
  // `complete`: the whole request, body included, has arrived.
  if (incoming.complete || outgoing.headersSent) return res;
  outgoing.setHeader('connection', 'close');
  lingerOnClose(incoming);
  return res;
}

/**
 * Node closes a `Connection: close` response's socket with destroySoon(): FIN, then a full close
 * as soon as it is flushed, and body bytes still arriving after that make the kernel answer with
 * a reset that can overtake the response. Lingering instead: half-close, keep draining until the
 * client closes its side or LINGER_MS passes.
 */
function lingerOnClose(incoming: IncomingMessage): void {
  const socket = incoming.socket as Socket & { destroySoon?: () => void; lingering?: boolean };
  if (socket.lingering) return;
  socket.lingering = true;
  let closing = false;
  socket.destroySoon = () => {
    // Node calls this when the answer is flushed, @hono/node-server again when its own drain gives up.
    if (socket.destroyed || closing) return;
    closing = true;
    if (socket.writable) socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('end', () => socket.destroy());
    incoming.resume();
    socket.resume();
  };
}
