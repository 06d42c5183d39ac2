// JSON over HTTP to the services alerts talk to (the trackers' REST APIs,
// GitHub, GitLab): a time limit, a size limit on the answer, and errors that
// say which call failed without ever carrying the request's headers (where
// the tokens are).
import { request } from 'undici';

const TIMEOUT_MS = 30_000;
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export class HttpCallFailed extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface JsonCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  url: string;
  headers: Record<string, string>;
  body?: unknown;
}

export async function callJson<T = unknown>(call: JsonCall): Promise<{ status: number; body: T }> {
  const what = `${call.method} ${withoutQuery(call.url)}`;
  let res;
  try {
    res = await request(call.url, {
      method: call.method,
      headers: {
        accept: 'application/json',
        'user-agent': 'AstraForge-alerts',
        ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...call.headers,
      },
      body: call.body !== undefined ? JSON.stringify(call.body) : undefined,
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
    });
  } catch (e) {
    throw new HttpCallFailed(`${what} failed: ${(e as Error).message}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      res.body.destroy();
      throw new HttpCallFailed(`${what}: the answer is larger than ${MAX_ANSWER_BYTES} bytes`, res.statusCode);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (res.statusCode >= 400) throw new HttpCallFailed(`${what} answered ${res.statusCode}: ${text.slice(0, 300)}`, res.statusCode);
  try {
    return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
  } catch {
    throw new HttpCallFailed(`${what} answered ${res.statusCode} with no JSON`, res.statusCode);
  }
}

function withoutQuery(url: string): string {
  return url.split('?')[0];
}
