// The one reader of server-sent events for the tests and the benchmarks:
// eventsource-parser over an undici response, each message stamped with its
// arrival time, and a way to stop early that closes the connection.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { request, type Dispatcher } from 'undici';

export interface SseMessage extends EventSourceMessage {
  /** performance.now() when the message was parsed. */
  at: number;
}

export interface SseRequest {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** A JSON body (sent with content-type: application/json). */
  json?: unknown;
  /** A keep-alive pool (the benchmarks); undici's global dispatcher otherwise. */
  dispatcher?: Dispatcher;
}

/** What `onMessage` returns to stop reading: the connection is closed and readSse resolves. */
export const STOP = 'stop';

/** The stream was refused: its status and body, for the assertion that expects it. */
export class SseRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    url: string,
  ) {
    super(`SSE ${url}: ${status} ${body}`);
  }
}

/** Reads an event stream to its end, or until `onMessage` returns STOP. */
export async function readSse(req: SseRequest, onMessage: (m: SseMessage) => typeof STOP | void): Promise<void> {
  const abort = new AbortController();
  const res = await request(req.url, {
    method: req.method ?? 'GET',
    headers: {
      accept: 'text/event-stream',
      ...(req.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...req.headers,
    },
    body: req.json !== undefined ? JSON.stringify(req.json) : undefined,
    dispatcher: req.dispatcher,
    signal: abort.signal,
  });
  if (res.statusCode !== 200) throw new SseRefused(res.statusCode, await res.body.text(), req.url);
  let stopped = false;
  const parser = createParser({
    onEvent: (e) => {
      if (!stopped && onMessage({ ...e, at: performance.now() }) === STOP) stopped = true;
    },
  });
  // A character split between two chunks is decoded once both have arrived.
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (stopped) {
        abort.abort(); // the server's side stays open otherwise
        break;
      }
    }
  } catch (e) {
    if (!stopped) throw e;
  }
}
