// A keep-alive HTTP client for the benchmark, so it measures the server, not connection set-up.
import { Pool } from 'undici';

export class BenchClient {
  readonly pool: Pool;
  constructor(
    readonly url: string,
    private readonly key: string,
  ) {
    this.pool = new Pool(url, { connections: 64, pipelining: 1 });
  }

  async json(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await this.pool.request({
      method,
      path,
      headers: { authorization: `Bearer ${this.key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
  }

  async createSession(): Promise<string> {
    const r = await this.json('POST', '/v1/sessions', {});
    if (r.status !== 201) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.id;
  }

  async exec(id: string, cmd: string): Promise<any> {
    const r = await this.json('POST', `/v1/sessions/${id}/exec`, { cmd });
    if (r.status !== 200) throw new Error(`exec: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /**
   * Streams an SSE response; onEvent returning true stops reading early.
   * Events are split on the bytes as they arrive (one copy per event, no
   * decoding of the whole stream): the general-purpose reader the tests use
   * (TextDecoder + eventsource-parser) tops out near the rates it is meant
   * to measure, so here the client stays out of the throughput figure.
   */
  async sse(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    onEvent: (event: string | undefined, data: string) => boolean | void,
    headers: Record<string, string> = {},
  ): Promise<void> {
    const abort = new AbortController();
    const res = await this.pool.request({
      method,
      path,
      headers: {
        authorization: `Bearer ${this.key}`,
        accept: 'text/event-stream',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: abort.signal,
    });
    if (res.statusCode !== 200) throw new Error(`SSE ${path}: ${res.statusCode} ${await res.body.text()}`);
    const held: Buffer[] = [];
    let lastByte = -1; // the last byte held, to find a blank line split across chunks
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        let from = 0;
        for (;;) {
          let end: number;
          if (from === 0 && lastByte === LF && chunk[0] === LF) end = 0;
          else {
            const i = chunk.indexOf(BLANK_LINE, from);
            if (i < 0) break;
            end = i + 1;
          }
          const block = held.length ? Buffer.concat([...held, chunk.subarray(from, end)]) : chunk.subarray(from, end);
          held.length = 0;
          lastByte = -1;
          from = end + 1;
          if (dispatch(block, onEvent)) {
            abort.abort(); // the server's side stays open otherwise
            return;
          }
        }
        if (from < chunk.length) {
          held.push(chunk.subarray(from));
          lastByte = chunk[chunk.length - 1];
        }
      }
    } catch (e) {
      if (!abort.signal.aborted) throw e;
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

const LF = 0x0a;
const BLANK_LINE = Buffer.from('\n\n');

/** One event's lines (`event:`, `data:`; comments skipped) handed to onEvent; true to stop. */
function dispatch(block: Buffer, onEvent: (event: string | undefined, data: string) => boolean | void): boolean {
  let event: string | undefined;
  let data: string | undefined;
  for (let at = 0; at < block.length;) {
    let nl = block.indexOf(LF, at);
    if (nl < 0) nl = block.length;
    if (block[at] !== 0x3a /* ':' comment */ && nl > at) {
      const colon = block.indexOf(0x3a, at);
      const nameEnd = colon < 0 || colon > nl ? nl : colon;
      const valueAt = nameEnd === nl ? nl : block[nameEnd + 1] === 0x20 ? nameEnd + 2 : nameEnd + 1;
      const name = block.toString('latin1', at, nameEnd);
      if (name === 'event') event = block.toString('utf8', valueAt, nl);
      else if (name === 'data')
        data = data === undefined ? block.toString('utf8', valueAt, nl) : `${data}\n${block.toString('utf8', valueAt, nl)}`;
    }
    at = nl + 1;
  }
  return data !== undefined && onEvent(event, data) === true;
}
