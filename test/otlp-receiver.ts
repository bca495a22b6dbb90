import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ProtobufReader } from '@opentelemetry/otlp-transformer/build/src/common/protobuf/protobuf-reader.js';

/** A span as an OTLP/HTTP receiver got it, decoded from JSON or protobuf into one shape. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  attributes: Record<string, string | number | boolean>;
  links: { traceId: string; spanId: string }[];
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
}

export interface OtlpReceiver {
  /** The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  /** Every POST /v1/traces: its content type and the spans it carried. */
  requests: { contentType: string; spans: ReceivedSpan[] }[];
  spans(): ReceivedSpan[];
  /** Resolves once `predicate` holds for the spans received (or rejects after `timeoutMs`). */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

/** A real OTLP/HTTP traces receiver on 127.0.0.1 (what a collector's port 4318 does), for the tracing tests. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: OtlpReceiver['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
      const contentType = String(req.headers['content-type'] ?? '');
      const body = Buffer.concat(chunks);
      try {
        const spans = contentType.includes('json') ? fromJson(JSON.parse(body.toString('utf8'))) : fromProtobuf(body);
        requests.push({ contentType, spans });
      } catch (err) {
        return void res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
      }
      const json = contentType.includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : Buffer.alloc(0));
    });
  });
  await listen(server);
  const spans = () => requests.flatMap((r) => r.spans);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    spans,
    async waitFor(predicate, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(spans())) {
        if (Date.now() > deadline) throw new Error(`spans received did not match within ${timeoutMs} ms: ${JSON.stringify(spans().map((s) => [s.name, s.attributes]))}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return spans();
    },
    close: () => closeServer(server),
  };
}

/** An endpoint that accepts connections and never answers: the worst collector (exports hang until their timeout). */
export async function startBlackhole(): Promise<{ url: string; connections: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer(() => {});
  let connections = 0;
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await listen(server);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return connections;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return closeServer(server);
    },
  };
}

const listen = (server: Server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

// --- OTLP JSON (the exporter writes ids as hex strings) ---

type JsonAny = { stringValue?: string; boolValue?: boolean; intValue?: number | string; doubleValue?: number };
type JsonKv = { key: string; value: JsonAny };

function fromJson(body: any): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const service = String(attributes(rs.resource?.attributes)['service.name'] ?? '');
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          service,
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          attributes: attributes(s.attributes),
          links: (s.links ?? []).map((l: { traceId: string; spanId: string }) => ({ traceId: l.traceId, spanId: l.spanId })),
          status: { code: s.status?.code ?? 0, message: s.status?.message },
        });
      }
    }
  }
  return out;
}

function attributes(kvs: JsonKv[] | undefined): ReceivedSpan['attributes'] {
  const out: ReceivedSpan['attributes'] = {};
  for (const { key, value } of kvs ?? []) {
    out[key] = value.stringValue ?? value.boolValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? ''));
  }
  return out;
}

// --- OTLP protobuf (opentelemetry-proto trace.proto field numbers) ---

type Fields = Map<number, (Uint8Array | number)[]>;

/** One message's fields by number: length-delimited ones as bytes, varints as numbers, fixed ones skipped. */
function fields(buf: Uint8Array): Fields {
  const reader = new ProtobufReader(buf);
  const out: Fields = new Map();
  while (!reader.isAtEnd()) {
    const { fieldNumber, wireType } = reader.readTag();
    const value = wireType === 2 ? reader.readBytes() : wireType === 0 ? reader.readVarint() : (reader.skip(wireType), undefined);
    if (value === undefined) continue;
    out.set(fieldNumber, [...(out.get(fieldNumber) ?? []), value]);
  }
  return out;
}

const bytes = (f: Fields, n: number) => (f.get(n) ?? []) as Uint8Array[];
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : '');
const text = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('utf8') : '');

function protoAttributes(kvs: Uint8Array[]): ReceivedSpan['attributes'] {
  const out: ReceivedSpan['attributes'] = {};
  for (const kv of kvs) {
    const f = fields(kv);
    const value = fields(bytes(f, 2)[0] ?? new Uint8Array());
    const str = bytes(value, 1)[0];
    const bool = value.get(2)?.[0];
    const int = value.get(3)?.[0];
    out[text(bytes(f, 1)[0])] = str !== undefined ? text(str) : bool !== undefined ? bool === 1 : Number(int ?? 0);
  }
  return out;
}

function fromProtobuf(body: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of bytes(fields(body), 1)) {
    const r = fields(rs);
    const service = String(protoAttributes(bytes(fields(bytes(r, 1)[0] ?? new Uint8Array()), 1))['service.name'] ?? '');
    for (const ss of bytes(r, 2)) {
      for (const sp of bytes(fields(ss), 2)) {
        const s = fields(sp);
        const status = fields(bytes(s, 15)[0] ?? new Uint8Array());
        out.push({
          service,
          traceId: hex(bytes(s, 1)[0]),
          spanId: hex(bytes(s, 2)[0]),
          parentSpanId: hex(bytes(s, 4)[0]),
          name: text(bytes(s, 5)[0]),
          attributes: protoAttributes(bytes(s, 9)),
          links: bytes(s, 13).map((l) => {
            const lf = fields(l);
            return { traceId: hex(bytes(lf, 1)[0]), spanId: hex(bytes(lf, 2)[0]) };
          }),
          status: { code: Number(status.get(3)?.[0] ?? 0), message: text(bytes(status, 2)[0]) || undefined },
        });
      }
    }
  }
  return out;
}
