// One run's event stream: numbers each event, persists it before anyone sees
// it, fans it out to live subscribers, and keeps the log within its size by
// collapsing the oldest output (never state changes or the terminal event).
import { RunEventName, type RunEvent, type RunEventData, type RunEventOf, type RunEventType } from '@astraforge/contract/runApi';
import type { RunStore } from '../store/runStore';

/** Event types that carry bulk output and may be collapsed when a log grows too large. */
const OUTPUT_TYPES: ReadonlySet<RunEventType> = new Set([RunEventName.commandOutput, RunEventName.agentToken]);

export type RunEventListener = (e: RunEvent) => void;

export class RunEventLog {
  private seq: number;
  private outputBytes = 0;
  private readonly listeners = new Set<RunEventListener>();

  constructor(
    private readonly store: RunStore,
    readonly runId: string,
    lastSeq: number,
    private readonly maxOutputBytes: number,
  ) {
    this.seq = lastSeq;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Numbers and stores the event (on disk first when the contract says it is durable), then hands it to the listeners. */
  emit<T extends RunEventType>(type: T, data: RunEventData<T>): RunEventOf<T> {
    // The spread of a generic type's fields loses the tie between type and data; the signature keeps it.
    const event = { ...data, seq: ++this.seq, type, ts: new Date().toISOString() } as RunEvent as RunEventOf<T>;
    this.store.appendEvents(this.runId, [event]);
    if (OUTPUT_TYPES.has(type)) {
      this.outputBytes += byteSize(event);
      if (this.outputBytes > this.maxOutputBytes) this.collapseOldestOutput();
    }
    for (const l of this.listeners) l(event);
    return event;
  }

  /**
   * Subscribes and returns the persisted events after `afterSeq` in one step:
   * emit() is synchronous, so nothing can fall between the read and the subscription.
   */
  replayAndSubscribe(afterSeq: number, listener: RunEventListener): { past: RunEvent[]; unsubscribe: () => void } {
    const past = this.store.readEvents(this.runId, afterSeq);
    this.listeners.add(listener);
    return { past, unsubscribe: () => this.listeners.delete(listener) };
  }

  /** Drops the oldest output events until the output is half the cap, leaving one marker where they were. */
  private collapseOldestOutput(): void {
    const target = this.maxOutputBytes / 2;
    let bytes = this.outputBytes;
    let marker: RunEventOf<typeof RunEventName.outputCollapsed> | undefined;
    const kept: RunEvent[] = [];
    for (const e of this.store.readEvents(this.runId, 0)) {
      if (bytes <= target || !OUTPUT_TYPES.has(e.type)) {
        kept.push(e);
        continue;
      }
      const size = byteSize(e);
      bytes -= size;
      if (!marker) {
        // The marker takes the first dropped event's seq, so ids stay increasing and unique.
        marker = { seq: e.seq, type: RunEventName.outputCollapsed, ts: e.ts, from_seq: e.seq, to_seq: e.seq, events: 0, bytes: 0 };
        kept.push(marker);
      }
      marker.to_seq = e.seq;
      marker.events += 1;
      marker.bytes += size;
    }
    this.store.rewriteEvents(this.runId, kept);
    this.outputBytes = bytes;
  }
}

function byteSize(e: RunEvent): number {
  return Buffer.byteLength(JSON.stringify(e));
}
