// The extension's typed client for the companion server: undici for HTTP,
// eventsource-parser for the run event stream, and the server's own zod
// contract to parse every answer. Imports nothing of `vscode`, so it is
// unit-tested against the real server.
import { setMaxListeners } from 'node:events';
import { createParser } from 'eventsource-parser';
import { Agent, request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { ErrorEnvelope } from '@astraforge/contract/errors';
import { ServerInfo, ShutdownResult } from '@astraforge/contract/serverApi';
import { SnapshotPlan, type SnapshotPlanRequest } from '@astraforge/contract/snapshotDelta';
import { WorkspaceTar } from '../snapshot/snapshotBuilder';
import { sendSnapshot, type SendReport, type SnapshotTransport } from '../snapshot/snapshotUpload';
import {
  Run,
  FileContents,
  RunDiff,
  RunEvent,
  RunEventName,
  RunEventType,
  RunList,
  SnapshotResult,
  TERMINAL_STATUSES,
  type CreateRunRequest,
  type FollowUpRequest,
} from '@astraforge/contract/runApi';

export class ServerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ServerError';
  }
}

export interface FollowOptions {
  /** Deliver events after this seq (0: from the start). */
  afterSeq: number;
  signal: AbortSignal;
  onEvent: (e: RunEvent) => void;
  /** Called when the stream broke and is being resumed. */
  onReconnect?: (attempt: number, error: Error) => void;
  /** Called for the first event of each type that was skipped (see SkippedEvent), not for the ones after it. */
  onSkipped?: (skipped: SkippedEvent) => void;
}

export interface RunChangesOptions {
  signal: AbortSignal;
  /** The stream follows (again, after a break): list the runs now to miss none. */
  onReady: () => void;
  /** A run was created or its status changed. */
  onRun: (run: Run) => void;
  /** Called when the stream broke and is being opened again. */
  onReconnect?: (attempt: number, error: Error) => void;
  /** A record that breaks the contract, passed over. */
  onSkipped?: (reason: string) => void;
}

/**
 * An event the client passed over: a type this extension does not know (a
 * newer server) or fields that break the contract. The server relays what
 * sandboxed agents do, so one bad event must not end the stream.
 */
export interface SkippedEvent {
  /** Its SSE id, when it had one. */
  seq?: number;
  /** Its type as sent, or what stood in its place. */
  type: string;
  reason: string;
}

const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 5000];

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
      plan: (req: SnapshotPlanRequest, signal?: AbortSignal) =>
        this.json('POST', '/api/snapshots/plan', SnapshotPlan, { body: req, signal }),
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
   * Follows a run's events until the run finishes, resuming with Last-Event-ID
   * whenever the stream breaks, so each event arrives exactly once and in
   * order; events it cannot read are skipped (see SkippedEvent). Resolves
   * with the last seq read.
   */
  async followEvents(runId: string, opts: FollowOptions): Promise<number> {
    const signal = AbortSignal.any([opts.signal, this.closing.signal]);
    let last = opts.afterSeq;
    let attempt = 0;
    const skippedTypes = new Set<string>();
    for (;;) {
      let finished = false;
      try {
        await this.readStream(runId, last, signal, {
          onEvent: (e) => {
            if (e.seq <= last) return; // a repeat after a resume: already delivered
            last = e.seq;
            attempt = 0;
            opts.onEvent(e);
            if (e.type === RunEventName.runFinished) finished = true;
          },
          onSkipped: (skipped) => {
            // Past it all the same, so a resume does not ask for it again.
            if (skipped.seq !== undefined && skipped.seq > last) last = skipped.seq;
            if (skippedTypes.has(skipped.type)) return;
            skippedTypes.add(skipped.type);
            opts.onSkipped?.(skipped);
          },
        });
        // The server ends a finished run's stream after its last event.
        if (finished) return last;
        const run = await this.getRun(runId);
        if (TERMINAL_STATUSES.includes(run.status) && run.last_seq <= last) return last;
      } catch (e) {
        if (signal.aborted) return last;
        if (e instanceof ServerError && e.status >= 400 && e.status < 500) throw e;
        opts.onReconnect?.(attempt + 1, e as Error);
      }
      if (signal.aborted) return last;
      await delay(RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)], signal);
      attempt++;
    }
  }

  /**
   * Follows GET /api/runs/changes until `signal` aborts, opening it again
   * when it breaks; each opening says `onReady` first (the caller lists the
   * runs then, so none created meanwhile is missed).
   */
  async followRunChanges(opts: RunChangesOptions): Promise<void> {
    const signal = AbortSignal.any([opts.signal, this.closing.signal]);
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const res = await request(`${this.baseUrl}/api/runs/changes`, {
          dispatcher: this.dispatcher,
          headers: { ...this.auth(), accept: 'text/event-stream' },
          signal,
        });
        if (res.statusCode !== 200) throw await this.errorOf(res.statusCode, await res.body.text());
        const parser = createParser({
          onEvent: (msg) => {
            if (msg.event === 'ready') {
              attempt = 0;
              return opts.onReady();
            }
            if (msg.event !== 'run') return; // a kind a newer server sends
            let data: unknown;
            try {
              data = JSON.parse(msg.data);
            } catch {
              return opts.onSkipped?.('a run change that is not JSON');
            }
            const run = Run.safeParse(data);
            if (run.success) opts.onRun(run.data);
            else opts.onSkipped?.(`a run change that breaks the contract: ${run.error.message}`);
          },
        });
        for await (const chunk of res.body) parser.feed(Buffer.from(chunk).toString('utf8'));
        throw new Error('the server ended the stream of run changes');
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ServerError && e.status >= 400 && e.status < 500) throw e;
        opts.onReconnect?.(attempt + 1, e as Error);
      }
      await delay(RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)], signal);
      attempt++;
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.dispatcher.close();
  }

  private async readStream(
    runId: string,
    afterSeq: number,
    signal: AbortSignal,
    to: { onEvent: (e: RunEvent) => void; onSkipped: (skipped: SkippedEvent) => void },
  ): Promise<void> {
    const res = await request(`${this.baseUrl}/api/runs/${encodeURIComponent(runId)}/events`, {
      dispatcher: this.dispatcher,
      headers: { ...this.auth(), accept: 'text/event-stream', 'last-event-id': String(afterSeq) },
      signal,
    });
    if (res.statusCode !== 200) throw await this.errorOf(res.statusCode, await res.body.text());
    const parser = createParser({
      onEvent: (msg) => {
        const read = readRunEvent(msg.data, msg.id);
        if ('event' in read) to.onEvent(read.event);
        else to.onSkipped(read.skipped);
      },
    });
    for await (const chunk of res.body) parser.feed(Buffer.from(chunk).toString('utf8'));
  }

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
    if (res.statusCode >= 400) throw await this.errorOf(res.statusCode, text);
    const parsed = schema.safeParse(text ? JSON.parse(text) : undefined);
    if (!parsed.success) throw new Error(`${method} ${path}: the answer does not match the contract: ${parsed.error.message}`);
    return parsed.data;
  }

  private async errorOf(status: number, text: string): Promise<ServerError> {
    try {
      const env = ErrorEnvelope.parse(JSON.parse(text));
      return new ServerError(status, env.error_code, env.message);
    } catch {
      return new ServerError(status, 'HTTP_ERROR', `the server answered ${status}: ${text.slice(0, 200)}`);
    }
  }
}

/** One SSE message's data as a run event, or why it is skipped. */
function readRunEvent(data: string, id: string | undefined): { event: RunEvent } | { skipped: SkippedEvent } {
  const seq = id !== undefined && /^\d+$/.test(id) ? Number(id) : undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { skipped: { seq, type: '(not JSON)', reason: 'its data is not JSON' } };
  }
  const parsed = RunEvent.safeParse(raw);
  if (parsed.success) return { event: parsed.data };
  const type = (raw as { type?: unknown } | null)?.type;
  const known = RunEventType.safeParse(type).success;
  return {
    skipped: {
      seq,
      type: typeof type === 'string' ? type : '(no type)',
      reason: known ? `its fields do not match the contract: ${parsed.error.message}` : 'a type this extension does not know',
    },
  };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
