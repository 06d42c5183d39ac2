// A thin test client over undici for the server's JSON and SSE routes.
import { request } from 'undici';
import { readSse, type SseMessage } from './sseReader';

export interface JsonResponse<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export class ApiClient {
  constructor(
    readonly url: string,
    readonly apiKey: string,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}`, ...extra };
  }

  async call<T = any>(
    method: string,
    path: string,
    body?: unknown,
    opts: { headers?: Record<string, string>; raw?: string | Buffer } = {},
  ): Promise<JsonResponse<T>> {
    const hasJson = body !== undefined;
    const res = await request(`${this.url}${path}`, {
      method: method as any,
      headers: this.headers({ ...(hasJson ? { 'content-type': 'application/json' } : {}), ...opts.headers }),
      body: opts.raw ?? (hasJson ? JSON.stringify(body) : undefined),
    });
    const text = await res.body.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.statusCode, body: parsed, headers: res.headers };
  }

  get<T = any>(path: string) {
    return this.call<T>('GET', path);
  }
  post<T = any>(path: string, body: unknown = {}) {
    return this.call<T>('POST', path, body);
  }
  delete<T = any>(path: string) {
    return this.call<T>('DELETE', path);
  }

  async createSession(body: Record<string, unknown> = {}): Promise<string> {
    const r = await this.post('/v1/sessions', body);
    if (r.status !== 201) throw new Error(`create session: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.id;
  }

  async exec(id: string, cmd: string, timeout_ms?: number) {
    return this.post(`/v1/sessions/${id}/exec`, { cmd, ...(timeout_ms ? { timeout_ms } : {}) });
  }

  /** Posts to an SSE route and collects its events (with arrival times) until the stream ends. */
  async sse(path: string, body: unknown, onEvent?: (e: SseMessage) => void): Promise<SseMessage[]> {
    const events: SseMessage[] = [];
    await readSse({ url: `${this.url}${path}`, method: 'POST', headers: this.headers(), json: body }, (e) => {
      events.push(e);
      onEvent?.(e);
    });
    return events;
  }
}
