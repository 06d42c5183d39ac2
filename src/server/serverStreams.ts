// Following the server's event streams (SSE, parsed by eventsource-parser):
// a run's events, resumed with Last-Event-ID whenever the stream breaks so
// each arrives once and in order, and the stream of run changes, opened
// again after a break. Every event is parsed with the contract; one that
// breaks it is skipped, never the stream. The HTTP is the client's
// (StreamSource), so this module holds only the following.
import { createParser } from 'eventsource-parser';
import { Run, RunEvent, RunEventName, RunEventType, TERMINAL_STATUSES } from '@astraforge/contract/runApi';
import { isRefusal } from './serverError';

/** How the streams reach the server: the client's authenticated requests. */
export interface StreamSource {
  /** GETs `path` as text/event-stream with these extra headers: the body, or throws the server's refusal (ServerError). */
  open(path: string, headers: Record<string, string>, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
  getRun(id: string): Promise<Run>;
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

/**
 * Follows a run's events until the run finishes, resuming with Last-Event-ID
 * whenever the stream breaks, so each event arrives exactly once and in
 * order; events it cannot read are skipped (see SkippedEvent). Resolves
 * with the last seq read.
 */
export async function followRunEvents(source: StreamSource, runId: string, opts: FollowOptions, signal: AbortSignal): Promise<number> {
  let last = opts.afterSeq;
  let attempt = 0;
  const skippedTypes = new Set<string>();
  for (;;) {
    let finished = false;
    try {
      await readRunStream(source, runId, last, signal, {
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
      const run = await source.getRun(runId);
      if (TERMINAL_STATUSES.includes(run.status) && run.last_seq <= last) return last;
    } catch (e) {
      if (signal.aborted) return last;
      if (isRefusal(e)) throw e;
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
export async function followRunChanges(source: StreamSource, opts: RunChangesOptions, signal: AbortSignal): Promise<void> {
  let attempt = 0;
  while (!signal.aborted) {
    try {
      const body = await source.open('/api/runs/changes', {}, signal);
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
      for await (const chunk of body) parser.feed(Buffer.from(chunk).toString('utf8'));
      throw new Error('the server ended the stream of run changes');
    } catch (e) {
      if (signal.aborted) return;
      if (isRefusal(e)) throw e;
      opts.onReconnect?.(attempt + 1, e as Error);
    }
    await delay(RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)], signal);
    attempt++;
  }
}

async function readRunStream(
  source: StreamSource,
  runId: string,
  afterSeq: number,
  signal: AbortSignal,
  to: { onEvent: (e: RunEvent) => void; onSkipped: (skipped: SkippedEvent) => void },
): Promise<void> {
  const body = await source.open(`/api/runs/${encodeURIComponent(runId)}/events`, { 'last-event-id': String(afterSeq) }, signal);
  const parser = createParser({
    onEvent: (msg) => {
      const read = readRunEvent(msg.data, msg.id);
      if ('event' in read) to.onEvent(read.event);
      else to.onSkipped(read.skipped);
    },
  });
  for await (const chunk of body) parser.feed(Buffer.from(chunk).toString('utf8'));
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
