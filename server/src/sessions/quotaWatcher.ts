// Keeps one session's workspace under its disk quota, measured from the host
// (see workspaceUsage.ts), and has the runner kill the session's processes
// when it is exceeded.
//
// Burst bound: between two checks a session can write at most
//   (write rate) x (interval + walk duration)
// on top of the quota, and each single file stays below RLIMIT_FSIZE (af-runner
// caps it at the quota), so no one file overshoots. The interval is at least
// MIN_INTERVAL_MS and ten times the last walk, so walking takes at most ~10%
// of the time: a workspace of many files is checked less often, not slower.
import { measureWorkspace, type WorkspaceUsage } from '../sandboxes/host/workspaceUsage';

export const MIN_INTERVAL_MS = 2000;
/** Walks stop here; a workspace with more entries counts as over quota (its bytes cannot be known). */
export const ENTRY_BUDGET = 500_000;

export interface QuotaWatcherOptions {
  workspaceDir: string;
  quotaBytes: number;
  /** Sends the runner its 'Q' frame. */
  enforce: (message: string) => void;
  log: (obj: Record<string, unknown>, msg: string) => void;
}

export class QuotaWatcher {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The last message sent to the runner, for the result of the exec it ended. */
  lastMessage: string | undefined;
  lastWalkMs = 0;
  intervalMs = MIN_INTERVAL_MS;

  constructor(private readonly opts: QuotaWatcherOptions) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** One measurement, and enforcement when over; returns what it measured. */
  async check(): Promise<WorkspaceUsage | undefined> {
    const started = performance.now();
    let usage: WorkspaceUsage;
    try {
      usage = await measureWorkspace(this.opts.workspaceDir, { entryBudget: ENTRY_BUDGET });
    } catch (e) {
      this.opts.log({ err: (e as Error).message }, 'workspace usage could not be measured');
      return undefined;
    }
    this.lastWalkMs = performance.now() - started;
    this.intervalMs = Math.max(MIN_INTERVAL_MS, Math.ceil(10 * this.lastWalkMs));
    const over = usage.bytes > this.opts.quotaBytes || !usage.complete;
    if (over && !this.stopped) {
      this.lastMessage = usage.complete
        ? `workspace disk quota exceeded (${usage.bytes} > ${this.opts.quotaBytes} bytes, measured from the host): every process in the session was killed`
        : `workspace holds more than ${ENTRY_BUDGET} files: every process in the session was killed`;
      this.opts.log({ bytes: usage.bytes, quota: this.opts.quotaBytes, entries: usage.entries }, 'disk quota exceeded');
      this.opts.enforce(this.lastMessage);
    }
    return usage;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.check().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }
}
