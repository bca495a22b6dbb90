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
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const body = JSON.stringify(
      errorBody(tooLarge ? 'headers_too_large' : 'bad_request', tooLarge ? 'The request headers are too large.' : 'The request could not be parsed as HTTP.'),
    );
    log.debug({ code: err.code }, 'client error');
    socket.end(
      `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}
