// Helpers for run tests: make a workspace folder, upload it as a snapshot,
// and follow a run's SSE events.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createParser } from 'eventsource-parser';
import { request } from 'undici';
import type { ApiClient } from './apiClient';

export function makeTree(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'af-tree-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Streams `tar -C dir -cf - .` (optionally gzipped) to POST /api/snapshots. */
export async function uploadTree(api: ApiClient, dir: string, gzip = false): Promise<{ status: number; body: any }> {
  const tar = spawn('tar', ['-C', dir, gzip ? '-czf' : '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return uploadStream(api, tar.stdout!, gzip ? 'application/gzip' : 'application/x-tar');
}

export async function uploadStream(api: ApiClient, body: NodeJS.ReadableStream | Buffer, contentType: string) {
  const res = await request(`${api.url}/api/snapshots`, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.apiKey}`, 'content-type': contentType },
    body: body as any,
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

export interface SseEvent {
  id?: string;
  data: any;
  at: number;
}

/** Reads a run's event stream until it ends (or `stopAfter` events), optionally resuming after an id. */
export async function readRunEvents(
  api: ApiClient,
  runId: string,
  opts: { lastEventId?: number; stopAfter?: number; onEvent?: (e: SseEvent) => void } = {},
): Promise<SseEvent[]> {
  const ac = new AbortController();
  const headers: Record<string, string> = { authorization: `Bearer ${api.apiKey}`, accept: 'text/event-stream' };
  if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
  const res = await request(`${api.url}/api/runs/${runId}/events`, { headers, signal: ac.signal });
  if (res.statusCode !== 200) throw new Error(`events: ${res.statusCode} ${await res.body.text()}`);
  const events: SseEvent[] = [];
  let stop = false;
  const parser = createParser({
    onEvent: (e) => {
      if (stop) return;
      const ev = { id: e.id, data: JSON.parse(e.data), at: performance.now() };
      events.push(ev);
      opts.onEvent?.(ev);
      if (opts.stopAfter !== undefined && events.length >= opts.stopAfter) stop = true;
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
  return events;
}

export async function waitForRun(api: ApiClient, runId: string, statuses: string[], timeoutMs = 30_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await api.get(`/api/runs/${runId}`);
    if (statuses.includes(r.body.status)) return r.body;
    if (Date.now() > until) throw new Error(`run ${runId} is ${r.body.status}, not ${statuses.join('|')}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
