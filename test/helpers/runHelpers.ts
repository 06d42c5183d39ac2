// Helpers for run tests: make a workspace folder, upload it as a snapshot,
// and follow a run's SSE events.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import type { ApiClient } from './apiClient';
import { readSse, STOP } from './sseReader';
import { tarOf } from './tarStream';
import { until } from './until';

/** Trees made here, removed as the test process exits: a test may read its tree until its end. */
const trees = new Set<string>();
process.once('exit', () => {
  for (const dir of trees) rmSync(dir, { recursive: true, force: true });
});

export function makeTree(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'af-tree-'));
  trees.add(dir);
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
  return uploadStream(api, tarOf(dir, gzip), gzip ? 'application/gzip' : 'application/x-tar');
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
  /** performance.now() when it arrived. */
  at: number;
}

/**
 * Reads a run's event stream until it ends, or until `stopWhen` says so
 * (it sees each event and all read so far); `lastEventId` resumes after that seq.
 */
export async function readRunEvents(
  api: ApiClient,
  runId: string,
  opts: { lastEventId?: number; stopWhen?: (e: SseEvent, all: SseEvent[]) => boolean; onEvent?: (e: SseEvent) => void } = {},
): Promise<SseEvent[]> {
  const headers: Record<string, string> = { authorization: `Bearer ${api.apiKey}` };
  if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
  const events: SseEvent[] = [];
  await readSse({ url: `${api.url}/api/runs/${runId}/events`, headers }, (m) => {
    const e = { id: m.id, data: JSON.parse(m.data), at: m.at };
    events.push(e);
    opts.onEvent?.(e);
    if (opts.stopWhen?.(e, events)) return STOP;
  });
  return events;
}

/** Polls the run until its status is one of `statuses`; returns the run. */
export async function waitForRun(api: ApiClient, runId: string, statuses: string[], timeoutMs = 30_000): Promise<any> {
  let last = 'unknown';
  return until(
    () => `run ${runId} to be ${statuses.join('|')} (it is ${last})`,
    async () => {
      const run = (await api.get(`/api/runs/${runId}`)).body;
      last = run.status;
      return statuses.includes(run.status) ? run : undefined;
    },
    { timeoutMs, intervalMs: 50 },
  );
}
