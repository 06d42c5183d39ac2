// Server-sent events on a hijacked reply: named events, JSON data, heartbeats,
// and a signal that fires when the client goes away.
import type { FastifyReply } from 'fastify';

export interface SseStream {
  send(event: string | undefined, data: unknown, id?: number): void;
  comment(text: string): void;
  end(): void;
  readonly closed: AbortSignal;
}

export function openSse(reply: FastifyReply, heartbeatMs: number): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  const ac = new AbortController();
  // Not req 'close': Node emits it as soon as the request body has been read.
  res.once('close', () => ac.abort());
  const hb = setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs);
  hb.unref();
  let ended = false;
  return {
    send(event, data, id) {
      if (ended) return;
      let s = '';
      if (id !== undefined) s += `id: ${id}\n`;
      if (event) s += `event: ${event}\n`;
      s += `data: ${JSON.stringify(data)}\n\n`;
      res.write(s);
    },
    comment(text) {
      if (!ended) res.write(`: ${text}\n\n`);
    },
    end() {
      if (ended) return;
      ended = true;
      clearInterval(hb);
      res.end();
    },
    closed: ac.signal,
  };
}
