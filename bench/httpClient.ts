// A keep-alive HTTP client for the benchmark, so it measures the server, not connection set-up.
import { createParser } from 'eventsource-parser';
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

  /** Streams an SSE response; onEvent returning true stops reading early. */
  async sse(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    onEvent: (event: string | undefined, data: string) => boolean | void,
    headers: Record<string, string> = {},
  ): Promise<void> {
    const ac = new AbortController();
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
      signal: ac.signal,
    });
    let stop = false;
    const parser = createParser({
      onEvent: (e) => {
        if (!stop && onEvent(e.event, e.data) === true) stop = true;
      },
    });
    try {
      for await (const chunk of res.body) {
        parser.feed(chunk.toString());
        if (stop) {
          ac.abort();
          break;
        }
      }
    } catch (e) {
      if (!stop) throw e;
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
