// Requests as the astraforge-toolkit Python client sends them (X-Api-Key,
// trailing-slash paths under /api, JSON or a raw octet-stream body), and the
// answer read the way it reads them. The client cannot be installed here (no
// PyPI), so its requests are replayed as it sends them.
import { request } from 'undici';
import type { ServerProcess } from './serverProcess';

export interface ToolkitAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the answer is JSON, the bytes otherwise. */
  body: any;
}

export interface CallOptions {
  json?: unknown;
  raw?: Buffer;
  query?: Record<string, string>;
  key?: string;
}

export function toolkitCaller(server: () => ServerProcess) {
  return async function call(method: string, path: string, opts: CallOptions = {}): Promise<ToolkitAnswer> {
    const s = server();
    const qs = opts.query ? `?${new URLSearchParams(opts.query)}` : '';
    const url = path.startsWith('http') ? path : `${s.url}/api${path}${qs}`;
    return fetchAnswer(method, url, opts, s.apiKey);
  };
}

export async function fetchAnswer(method: string, url: string, opts: CallOptions, apiKey: string): Promise<ToolkitAnswer> {
  const headers: Record<string, string> = { 'x-api-key': opts.key ?? apiKey };
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  if (opts.raw) headers['content-type'] = 'application/octet-stream';
  const res = await request(url, {
    method: method as 'GET',
    headers,
    body: opts.raw ?? (opts.json !== undefined ? JSON.stringify(opts.json) : undefined),
  });
  const buf = Buffer.from(await res.body.arrayBuffer());
  let body: any = buf;
  if (String(res.headers['content-type'] ?? '').includes('json') && buf.length) body = JSON.parse(buf.toString());
  return { status: res.statusCode, headers: res.headers, body };
}
