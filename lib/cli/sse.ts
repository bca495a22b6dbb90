/** One Server-Sent Events message (or a comment line, such as a keep-alive). */
export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
  comment?: string;
}

/** Parses a text/event-stream body (WHATWG rules: fields, multi-line data, comments) as it arrives. */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let msg: SseMessage = { data: '' };
  let dataLines: string[] = [];
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (dataLines.length > 0 || msg.id !== undefined || msg.event !== undefined) yield { ...msg, data: dataLines.join('\n') };
          msg = { data: '' };
          dataLines = [];
        } else if (line.startsWith(':')) {
          yield { data: '', comment: line.slice(1).trim() };
        } else {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') dataLines.push(value);
          else if (field === 'id') msg.id = value;
          else if (field === 'event') msg.event = value;
        }
      }
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => {});
  }
}
