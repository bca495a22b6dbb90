import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * `BENCH_TRACING=1`: an OTLP/HTTP endpoint on 127.0.0.1 that answers every export at once and
 * keeps only counts, so the benchmark measures what tracing costs Conveyor, not a collector.
 */
export async function startOtlpSink(): Promise<{ url: string; stats(): { exports: number; bytes: number }; close(): Promise<void> }> {
  let exports = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      exports++;
      const json = String(req.headers['content-type']).includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats: () => ({ exports, bytes }),
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
