// Removes the snapshots no run needs any more. A snapshot that runs reference
// is kept until `retentionDays` after the last of them changed; one that no
// run references, `unreferencedMinutes` after it was uploaded or last used.
// Over `maxTotalBytes`, the least recently used go first, whatever their
// age. A snapshot that a queued, provisioning or running run needs is never
// removed. Which runs reference which snapshot comes from the run store.
// The cap counts the layers made from snapshots too (unpacked trees and
// their baselines, environments): over it, those go first, least recently
// used first, since each is made again from what is kept; never one a live
// sandbox or a kept delta layer stands on.
import type { RunStatus } from '@astraforge/contract/runApi';
import type { SnapshotStore, StoredSnapshot } from './snapshotStore';

export interface SnapshotRetention {
  retentionDays: number;
  unreferencedMinutes: number;
  maxTotalBytes: number;
}

/** What the janitor needs to know of a run. */
export interface RunReference {
  id: string;
  snapshot_id: string;
  status: RunStatus;
  updated_at: string;
}

/** A kept layer the cap counts. */
export interface CountedLayer {
  kind: 'snapshot-layer' | 'environment';
  /** The snapshot id, or the environment key. */
  id: string;
  bytes: number;
  lastUsedMs: number;
  /** A live sandbox, a kept delta layer or a build stands on it: it stays. */
  inUse: boolean;
}

/** Where the counted layers are kept. */
export interface CountedLayers {
  list(): CountedLayer[];
  /** Removes it unless it came into use meanwhile; whether it did. */
  remove(layer: CountedLayer): boolean;
  /** Called when a layer has been made (and measured). */
  onGrow(listener: () => void): void;
}

export type RemovalReason = 'retention' | 'unreferenced' | 'total' | 'unfinished-upload';

export interface SnapshotRemoval {
  snapshot_id: string;
  reason: RemovalReason;
  bytes: number;
  last_used: string;
  runs: string[];
}

const ACTIVE: ReadonlySet<RunStatus> = new Set<RunStatus>(['queued', 'provisioning', 'running']);
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

interface Judged {
  snapshot: StoredSnapshot;
  runs: string[];
  active: boolean;
  /** Past this instant, the age rules remove it. */
  keepUntilMs: number;
}

export class SnapshotJanitor {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: {
      store: SnapshotStore;
      runs: () => readonly RunReference[];
      retention: SnapshotRetention;
      /** The layers made from snapshots, counted in maxTotalBytes. */
      layers?: CountedLayers;
      log: (obj: Record<string, unknown>, msg: string) => void;
      now?: () => number;
    },
  ) {}

  /** Sweeps now, then every `intervalMs`, and after an upload that takes the total over the cap. */
  start(intervalMs: number): void {
    this.sweepLogged();
    this.timer = setInterval(() => this.sweepLogged(), intervalMs);
    this.timer.unref();
    const overCap = () => {
      if (this.totalBytes() > this.opts.retention.maxTotalBytes) this.sweepLogged();
    };
    this.opts.store.onIngest(overCap);
    // After the microtasks of whoever made the layer: a run pins the layer it asked for before the sweep looks.
    this.opts.layers?.onGrow(() => setImmediate(overCap));
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  totalBytes(): number {
    const layers = this.opts.layers?.list() ?? [];
    // A tree unpacked during its upload counts until its layer takes it (then the layer's measure does).
    const staged = this.opts.store.stagedTreeBytes();
    return this.opts.store.list().reduce((n, s) => n + s.diskBytes, 0) + layers.reduce((n, l) => n + l.bytes, 0) + staged;
  }

  /**
   * One pass. Synchronous on purpose: a run is created (its snapshot checked
   * and the run saved) in one step too, so a pass never removes a snapshot
   * between a run's check and its record.
   */
  sweep(): SnapshotRemoval[] {
    const now = this.opts.now?.() ?? Date.now();
    const { retentionDays, unreferencedMinutes, maxTotalBytes } = this.opts.retention;
    const byId = new Map<string, { runs: string[]; active: boolean; lastChangeMs: number }>();
    for (const run of this.opts.runs()) {
      const ref = byId.get(run.snapshot_id) ?? { runs: [], active: false, lastChangeMs: 0 };
      ref.runs.push(run.id);
      ref.active ||= ACTIVE.has(run.status);
      ref.lastChangeMs = Math.max(ref.lastChangeMs, Date.parse(run.updated_at) || 0);
      byId.set(run.snapshot_id, ref);
    }
    const judged: Judged[] = this.opts.store.list().map((snapshot) => {
      const ref = byId.get(snapshot.id);
      const keepUntilMs = ref ? ref.lastChangeMs + retentionDays * DAY_MS : snapshot.lastUsedMs + unreferencedMinutes * MINUTE_MS;
      return { snapshot, runs: ref?.runs ?? [], active: ref?.active ?? false, keepUntilMs };
    });

    const removals: SnapshotRemoval[] = [];
    const remove = (j: Judged, reason: RemovalReason) => {
      this.opts.store.delete(j.snapshot.id);
      removals.push({
        snapshot_id: j.snapshot.id,
        reason,
        bytes: j.snapshot.diskBytes,
        last_used: new Date(j.snapshot.lastUsedMs).toISOString(),
        runs: j.runs,
      });
    };

    const kept: Judged[] = [];
    for (const j of judged) {
      if (j.active) kept.push(j);
      else if (!j.snapshot.complete) remove(j, 'unfinished-upload');
      else if (now > j.keepUntilMs) remove(j, j.runs.length ? 'retention' : 'unreferenced');
      else kept.push(j);
    }

    // A removed snapshot's layer went with it (unless something stands on it).
    const layers = (this.opts.layers?.list() ?? []).filter(
      (l) => l.kind !== 'snapshot-layer' || !removals.some((r) => r.snapshot_id === l.id),
    );
    let total = kept.reduce((n, j) => n + j.snapshot.diskBytes, 0) + layers.reduce((n, l) => n + l.bytes, 0);
    if (total > maxTotalBytes) total = this.evictLayers(layers, total, maxTotalBytes);
    if (total > maxTotalBytes) {
      const evictable = kept.filter((j) => !j.active).sort((a, b) => a.snapshot.lastUsedMs - b.snapshot.lastUsedMs);
      const layerOf = new Map(layers.filter((l) => l.kind === 'snapshot-layer' && !l.inUse).map((l) => [l.id, l.bytes]));
      for (const j of evictable) {
        if (total <= maxTotalBytes) break;
        remove(j, 'total');
        total -= j.snapshot.diskBytes + (layerOf.get(j.snapshot.id) ?? 0);
      }
    }
    return removals;
  }

  /** Least recently used first, the layers nothing stands on; the total left. */
  private evictLayers(layers: CountedLayer[], total: number, maxTotalBytes: number): number {
    const store = this.opts.layers!;
    for (const l of layers.filter((x) => !x.inUse).sort((a, b) => a.lastUsedMs - b.lastUsedMs)) {
      if (total <= maxTotalBytes) break;
      if (!store.remove(l)) continue;
      total -= l.bytes;
      this.opts.log(
        {
          event: 'layer.removed',
          kind: l.kind,
          id: l.id,
          bytes: l.bytes,
          last_used: new Date(l.lastUsedMs).toISOString(),
          reason: 'total',
        },
        'layer removed',
      );
    }
    return total;
  }

  private sweepLogged(): void {
    try {
      for (const r of this.sweep()) this.opts.log({ event: 'snapshot.removed', ...r }, 'snapshot removed');
    } catch (e) {
      this.opts.log({ event: 'snapshot.janitor_failed', error: (e as Error).message }, 'snapshot janitor failed');
    }
  }
}
