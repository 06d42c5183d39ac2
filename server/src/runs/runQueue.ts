// Runs wait here for a slot: at most `maxConcurrent` provision and work at
// once, the others start in the order they came as slots free up.
export class RunQueue {
  private readonly waiting: string[] = [];
  private running = 0;

  constructor(
    private readonly maxConcurrent: number,
    /** Starts a run; its slot frees when the promise settles. */
    private readonly startRun: (runId: string) => Promise<void>,
  ) {}

  enqueue(runId: string): void {
    this.waiting.push(runId);
    this.pump();
  }

  /** Takes a run out before it started; false when it was not waiting. */
  remove(runId: string): boolean {
    const i = this.waiting.indexOf(runId);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  private pump(): void {
    while (this.running < this.maxConcurrent && this.waiting.length > 0) {
      const runId = this.waiting.shift()!;
      this.running++;
      void this.startRun(runId).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }
}
