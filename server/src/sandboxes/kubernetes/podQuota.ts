// The workspace disk quota inside a pod: the host folder the session layer
// measures is not where the pod writes, so while a command runs the pod's
// /workspace is measured through the runner (du, one file system), as
// often as the host watcher would, and the runner kills the session's
// processes when it is over (as on the other providers). The pod's
// ephemeral-storage limit stays the last line: it evicts the whole pod.
import type { RunnerClient } from '../runnerProtocol';

const MIN_INTERVAL_MS = 2000;

export class PodQuota {
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private measuring = false;
  private intervalMs = MIN_INTERVAL_MS;

  constructor(
    private readonly runner: RunnerClient,
    private readonly quotaBytes: number,
  ) {}

  /** Watches while `done` is pending (a user command). */
  track(done: Promise<unknown>): void {
    this.running++;
    this.schedule();
    void done.finally(() => {
      if (--this.running === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    });
  }

  stop(): void {
    this.running = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer || this.running === 0 || this.runner.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  /** One measurement; enforcement when over. Returns the bytes measured (undefined: no answer). */
  async check(): Promise<number | undefined> {
    if (this.measuring || this.runner.closed) return undefined;
    this.measuring = true;
    const started = performance.now();
    let out = '';
    try {
      const r = await this.runner.exec('du -s -x -B1 /workspace 2>/dev/null', {
        timeoutMs: 30_000,
        separateStderr: true,
        maxOutputBytes: 256,
        onOutput: (s, c) => {
          if (s === 'stdout') out += c.toString();
        },
      }).result;
      this.intervalMs = Math.max(MIN_INTERVAL_MS, Math.ceil(10 * (performance.now() - started)));
      const bytes = /^(\d+)\s/.exec(out)?.[1];
      if (r.exitCode !== 0 && !bytes) return undefined;
      const used = Number(bytes);
      if (used > this.quotaBytes && !this.runner.closed) {
        this.runner.enforceQuota(
          `workspace disk quota exceeded (${used} > ${this.quotaBytes} bytes, measured in the pod): every process in the session was killed`,
        );
      }
      return used;
    } finally {
      this.measuring = false;
    }
  }
}
