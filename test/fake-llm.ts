import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A chat-completions request the fake received. */
export interface LlmRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
  /** Set when the client went away before the answer ended (an aborted node). */
  aborted?: boolean;
}

export interface FakeLlm {
  /** The API root to use as `baseUrl`, e.g. http://127.0.0.1:1234/v1. */
  baseUrl: string;
  requests: LlmRequest[];
  close(): Promise<void>;
}

/**
 * A local OpenAI-compatible server for llm.chat (never the internet). The `model` picks the
 * behaviour, so workflows can ask for it too:
 * - any name: 200 with `echo: <last user message>` and usage;
 * - `status-<code>`: that status, with an error body that echoes the Authorization header back
 *   (as careless servers do: the provider must not pass it on);
 * - `not-json`, `no-choices`, `null-content`: malformed or odd answers;
 * - `slow`: answers after 10 s (for aborts); `redirect`: a 307 elsewhere.
 * The same names work on `POST /v1/messages`, answered as the Anthropic Messages API.
 */
export async function startFakeLlm(): Promise<FakeLlm> {
  const requests: LlmRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const send = (res: ServerResponse, status: number, body: unknown, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  // The Anthropic Messages API, with the same model names: text blocks, usage in its own words.
  const anthropic = (res: ServerResponse, body: any, headers: IncomingHttpHeaders) => {
    const model = String(body?.model ?? '');
    const status = /^status-(\d{3})$/.exec(model);
    if (status) return send(res, Number(status[1]), { type: 'error', error: { type: 'api_error', message: `rejected; you sent ${headers['x-api-key']}` } });
    if (model === 'not-json') return send(res, 200, '<html>gateway</html>', 'text/html');
    if (model === 'no-choices') return send(res, 200, { id: 'msg_x', type: 'message' });
    if (model === 'redirect') return void res.writeHead(307, { location: '/elsewhere/v1/messages' }).end();
    if (model === 'slow') {
      const t = setTimeout(() => send(res, 200, { content: [{ type: 'text', text: 'late' }] }), 10_000);
      timers.add(t);
      res.on('close', () => clearTimeout(t));
      return;
    }
    const last = Array.isArray(body?.messages) ? body.messages.at(-1)?.content : undefined;
    return send(res, 200, {
      id: 'msg_fake',
      type: 'message',
      role: 'assistant',
      model,
      content: [{ type: 'text', text: 'echo: ' }, { type: 'text', text: String(last) }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 3, output_tokens: 2 },
    });
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {
        // recorded as text
      }
      const record: LlmRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(record);
      res.on('close', () => {
        if (!res.writableEnded) record.aborted = true;
      });
      if (req.method === 'POST' && req.url?.endsWith('/v1/messages')) return anthropic(res, body, req.headers);
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) return send(res, 404, { error: { message: 'unknown route' } });
      const model = String(body?.model ?? '');
      const status = /^status-(\d{3})$/.exec(model);
      if (status) return send(res, Number(status[1]), { error: { message: `rejected; you sent ${req.headers.authorization}` } });
      switch (model) {
        case 'not-json':
          return send(res, 200, '<html>gateway</html>', 'text/html');
        case 'no-choices':
          return send(res, 200, { id: 'x', choices: [] });
        case 'null-content':
          return send(res, 200, { id: 'x', choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [] } }] });
        case 'redirect':
          res.writeHead(307, { location: '/elsewhere/chat/completions' });
          return void res.end();
        case 'slow': {
          const t = setTimeout(() => send(res, 200, { choices: [{ message: { content: 'late' } }] }), 10_000);
          timers.add(t);
          res.on('close', () => clearTimeout(t));
          return;
        }
        default: {
          const last = Array.isArray(body?.messages) ? body.messages.at(-1)?.content : undefined;
          return send(res, 200, {
            id: 'chatcmpl-fake',
            object: 'chat.completion',
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${last}` }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
          });
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
