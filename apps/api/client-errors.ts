import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../lib/logger.js';
import { errorBody } from './errors.js';

/**
 * Requests Node's HTTP parser refuses before Hono sees them (oversized headers, malformed
 * request lines) still get the JSON error shape, never Node's bare text answer.
 */
export function answerClientErrors(server: Server, log: Logger): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    const [status, reason, code, message] = answerFor(err.code);
    const body = JSON.stringify(errorBody(code, message));
    log.debug({ code: err.code }, 'client error');
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    // end() only half-closes: a client that keeps sending (a slowloris) must not keep the socket.
    setTimeout(() => socket.destroy(), 1_000).unref();
  });
}

function answerFor(code: string | undefined): [number, string, string, string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'Request Header Fields Too Large', 'headers_too_large', 'The request headers are too large.'];
  // The headers did not arrive within the headers timeout (a stalled or slowloris client).
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'Request Timeout', 'request_timeout', 'The request did not arrive in time.'];
  return [400, 'Bad Request', 'bad_request', 'The request could not be parsed as HTTP.'];
}
