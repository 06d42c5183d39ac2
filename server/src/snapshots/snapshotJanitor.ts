// Removes the snapshots no run needs any more. A snapshot that runs reference
// is kept until `retentionDays` after the last of them changed; one that no
// run references, `unreferencedMinutes` after it was uploaded or last used.
// Over `maxTotalBytes`, the least recently used go first, whatever their
// age. A snapshot that a queued, provisioning or running run needs is never
// removed. Which runs reference which snapshot comes from the run store.
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
      log: (obj: Record<string, unknown>, msg: string) => void;
      now?: () => number;
    },
  ) {}

  /** Sweeps now, then every `intervalMs`, and after an upload that takes the total over the cap. */
  start(intervalMs: number): void {
    this.sweepLogged();
    this.timer = setInterval(() => this.sweepLogged(), intervalMs);
    this.timer.unref();
    this.opts.store.onIngest(() => {
      if (this.totalBytes() > this.opts.retention.maxTotalBytes) this.sweepLogged();
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  totalBytes(): number {
    return this.opts.store.list().reduce((n, s) => n + s.diskBytes, 0);
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

    let total = kept.reduce((n, j) => n + j.snapshot.diskBytes, 0);
    if (total > maxTotalBytes) {
      const evictable = kept.filter((j) => !j.active).sort((a, b) => a.snapshot.lastUsedMs - b.snapshot.lastUsedMs);
      for (const j of evictable) {
        if (total <= maxTotalBytes) break;
        remove(j, 'total');
        total -= j.snapshot.diskBytes;
      }
    }
    return removals;
  }

  private sweepLogged(): void {
    try {
      for (const r of this.sweep()) this.opts.log({ event: 'snapshot.removed', ...r }, 'snapshot removed');
    } catch (e) {
      this.opts.log({ event: 'snapshot.janitor_failed', error: (e as Error).message }, 'snapshot janitor failed');
    }
  }
}
