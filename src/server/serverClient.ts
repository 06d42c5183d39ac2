// The extension's typed client for the companion server: undici for HTTP and
// the server's own zod contract to parse every answer; following the event
// streams is serverStreams.ts's, sending a workspace snapshotUpload.ts's.
// Imports nothing of `vscode`, so it is unit-tested against the real server.
import { setMaxListeners } from 'node:events';
import { Agent, request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { ServerInfo, ShutdownResult } from '@astraforge/contract/serverApi';
import { SnapshotPlan, type SnapshotPlanRequest } from '@astraforge/contract/snapshotDelta';
import { WorkspaceTar } from '../snapshot/snapshotBuilder';
import { sendSnapshot, type SendReport, type SnapshotTransport } from '../snapshot/snapshotUpload';
import {
  Run,
  FileContents,
  RunDiff,
  RunList,
  SnapshotResult,
  type CreateRunRequest,
  type FollowUpRequest,
} from '@astraforge/contract/runApi';
import { ServerError, serverErrorOf } from './serverError';
import { followRunChanges, followRunEvents, type FollowOptions, type RunChangesOptions, type StreamSource } from './serverStreams';

export { ServerError } from './serverError';
export type { FollowOptions, RunChangesOptions, SkippedEvent } from './serverStreams';

export class ServerClient {
  private readonly dispatcher: Dispatcher;
  /**
   * Aborted by close(): the dispatcher's close waits for every request under
   * way, and an event stream never ends by itself (nor does its reconnect
   * loop), so the streams are ended first.
   */
  private readonly closing = new AbortController();

  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string,
  ) {
    // SSE streams stay open for as long as a run lasts: no body timeout on them.
    this.dispatcher = new Agent({ bodyTimeout: 0, headersTimeout: 30_000 });
    // Every stream of this client listens on it (one per run followed): not a leak.
    setMaxListeners(0, this.closing.signal);
  }

  async health(): Promise<boolean> {
    try {
      const res = await request(`${this.baseUrl}/healthz`, { dispatcher: this.dispatcher });
      await res.body.dump();
      return res.statusCode === 200;
    } catch {
      return false;
    }
  }

  /** Checks the key against an authenticated route. */
  async checkAuth(): Promise<void> {
    await this.json('GET', '/api/runs?limit=1', RunList);
  }

  /**
   * Sends a snapshot. A workspace's (packSnapshot) goes incrementally when the
   * server holds its earlier contents (see snapshotUpload.ts); any other tar
   * is streamed whole, consumed as it is produced.
   */
  async uploadSnapshot(body: AsyncIterable<Uint8Array> | NodeJS.ReadableStream, signal?: AbortSignal): Promise<SnapshotResult> {
    if (body instanceof WorkspaceTar) return (await this.sendWorkspace(body, signal)).result;
    return this.snapshotTransport().upload(body as AsyncIterable<Uint8Array>, undefined, signal);
  }

  /** A workspace's snapshot, whole or only what changed, with what was sent. */
  sendWorkspace(tar: WorkspaceTar, signal?: AbortSignal): Promise<SendReport> {
    return sendSnapshot(this.snapshotTransport(), tar, signal);
  }

  private snapshotTransport(): SnapshotTransport {
    return {
      plan: async (req: SnapshotPlanRequest, signal?: AbortSignal) => {
        try {
          return await this.json('POST', '/api/snapshots/plan', SnapshotPlan, { body: req, signal });
        } catch (e) {
          // A plan of changes over a snapshot the server no longer keeps: the caller sends the whole manifest.
          if ('changed' in req && e instanceof ServerError && e.code === 'SESSION_EXPIRED') return undefined;
          throw e;
        }
      },
      upload: (body, planId, signal) =>
        this.json('POST', `/api/snapshots${planId ? `?plan=${encodeURIComponent(planId)}` : ''}`, SnapshotResult, {
          raw: body,
          contentType: 'application/x-tar',
          signal,
        }),
    };
  }

  createRun(req: CreateRunRequest): Promise<Run> {
    return this.json('POST', '/api/runs', Run, { body: req });
  }

  /** The newest runs; only those of one workspace folder (its URI) when `workspace` is given. */
  listRuns(limit = 50, workspace?: string): Promise<z.infer<typeof RunList>> {
    const query = new URLSearchParams({ limit: String(limit), ...(workspace ? { workspace } : {}) });
    return this.json('GET', `/api/runs?${query}`, RunList);
  }

  /** What the server is (version, build, pid) and how busy; a light request that also keeps an idle server alive. */
  serverInfo(): Promise<ServerInfo> {
    return this.json('GET', '/api/server', ServerInfo);
  }

  /** Stops the server now (its runs come back interrupted), or once no run is active. */
  shutdown(when: 'now' | 'idle'): Promise<ShutdownResult> {
    return this.json('POST', '/api/server/shutdown', ShutdownResult, { body: { when } });
  }

  getRun(id: string): Promise<Run> {
    return this.json('GET', `/api/runs/${encodeURIComponent(id)}`, Run);
  }

  diff(id: string): Promise<RunDiff> {
    return this.json('GET', `/api/runs/${encodeURIComponent(id)}/diff`, RunDiff);
  }

  /** Files as the run's snapshot had them (undefined: not a file there), asking again for what one answer leaves out. */
  baseFiles(id: string, paths: readonly string[]): Promise<Map<string, Buffer | undefined>> {
    return this.files(id, 'base-files', paths);
  }

  /** Files as the agent left them in the run's sandbox, while it lives. */
  proposedFiles(id: string, paths: readonly string[]): Promise<Map<string, Buffer | undefined>> {
    return this.files(id, 'proposed-files', paths);
  }

  private async files(
    id: string,
    route: 'base-files' | 'proposed-files',
    paths: readonly string[],
  ): Promise<Map<string, Buffer | undefined>> {
    const out = new Map<string, Buffer | undefined>();
    let pending = [...paths];
    while (pending.length) {
      const batch = pending.slice(0, 1000);
      const res = await this.json('POST', `/api/runs/${encodeURIComponent(id)}/${route}`, FileContents, { body: { paths: batch } });
      for (const f of res.files) out.set(f.path, f.content_base64 === undefined ? undefined : Buffer.from(f.content_base64, 'base64'));
      if (res.remaining.length === batch.length) throw new Error(`the server would not send ${res.remaining[0]}: larger than one answer`);
      pending = [...res.remaining, ...pending.slice(batch.length)];
    }
    return out;
  }

  cancel(id: string): Promise<Run> {
    return this.json('POST', `/api/runs/${encodeURIComponent(id)}/cancel`, Run, { body: {} });
  }

  followUp(id: string, req: FollowUpRequest): Promise<Run> {
    return this.json('POST', `/api/runs/${encodeURIComponent(id)}/messages`, Run, { body: req });
  }

  /**
   * Follows a run's events until the run finishes, each exactly once and in
   * order (see serverStreams.ts). Resolves with the last seq read.
   */
  followEvents(runId: string, opts: FollowOptions): Promise<number> {
    return followRunEvents(this.streams, runId, opts, AbortSignal.any([opts.signal, this.closing.signal]));
  }

  /** Follows GET /api/runs/changes until `opts.signal` aborts (see serverStreams.ts). */
  followRunChanges(opts: RunChangesOptions): Promise<void> {
    return followRunChanges(this.streams, opts, AbortSignal.any([opts.signal, this.closing.signal]));
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.dispatcher.close();
  }

  /** The event streams' way to the server: this client's dispatcher and key. */
  private readonly streams: StreamSource = {
    open: async (path, headers, signal) => {
      const res = await request(`${this.baseUrl}${path}`, {
        dispatcher: this.dispatcher,
        headers: { ...this.auth(), accept: 'text/event-stream', ...headers },
        signal,
      });
      if (res.statusCode !== 200) throw serverErrorOf(res.statusCode, await res.body.text());
      return res.body;
    },
    getRun: (id) => this.getRun(id),
  };

  private auth(): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}` };
  }

  private async json<S extends z.ZodType>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    schema: S,
    opts: { body?: unknown; raw?: AsyncIterable<Uint8Array> | NodeJS.ReadableStream; contentType?: string; signal?: AbortSignal } = {},
  ): Promise<z.infer<S>> {
    const headers: Record<string, string> = { ...this.auth() };
    let body: string | AsyncIterable<Uint8Array> | NodeJS.ReadableStream | undefined;
    if (opts.raw) {
      headers['content-type'] = opts.contentType ?? 'application/octet-stream';
      body = opts.raw;
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const res = await request(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body as Dispatcher.DispatchOptions['body'],
      dispatcher: this.dispatcher,
      signal: opts.signal,
    });
    const text = await res.body.text();
    if (res.statusCode >= 400) throw serverErrorOf(res.statusCode, text);
    const parsed = schema.safeParse(text ? JSON.parse(text) : undefined);
    if (!parsed.success) throw new Error(`${method} ${path}: the answer does not match the contract: ${parsed.error.message}`);
    return parsed.data;
  }
}
