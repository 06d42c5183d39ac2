// A keep-alive HTTP client for the benchmark, so it measures the server, not connection set-up.
import { Pool } from 'undici';
import { readSse, STOP } from '../test/helpers/sseReader';

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
    await readSse(
      {
        url: `${this.url}${path}`,
        method,
        headers: { authorization: `Bearer ${this.key}`, ...headers },
        json: body,
        dispatcher: this.pool,
      },
      (m) => (onEvent(m.event, m.data) === true ? STOP : undefined),
    );
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
