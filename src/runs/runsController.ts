// The runs the user sees: the list, and the one run shown in the sidebar,
// whose events are followed from the server (resuming after a broken
// stream) and handed on in small append-only batches.
import * as vscode from 'vscode';
import { TERMINAL_STATUSES, type CreateRunRequest, type Run, type RunEvent } from '../../server/src/contract/runApi';
import type { ServerConnection } from '../server/serverConnection';

const BATCH_MS = 40;
const LIST_REFRESH_MS = 5000;
/** Events after which the run's status, usage or error may have changed. */
const REFRESHING_EVENTS = new Set(['run.status', 'run.finished', 'model.call', 'diff.ready', 'run.followup']);

export interface RunEventsBatch {
  runId: string;
  events: RunEvent[];
}

export class RunsController implements vscode.Disposable {
  private readonly runsChanged = new vscode.EventEmitter<Run[]>();
  private readonly selectedChanged = new vscode.EventEmitter<Run>();
  private readonly runUpdated = new vscode.EventEmitter<Run>();
  private readonly eventsArrived = new vscode.EventEmitter<RunEventsBatch>();
  readonly onDidChangeRuns = this.runsChanged.event;
  readonly onDidSelectRun = this.selectedChanged.event;
  readonly onDidUpdateRun = this.runUpdated.event;
  readonly onDidReceiveEvents = this.eventsArrived.event;

  private runsList: Run[] = [];
  private selected?: Run;
  private follow?: AbortController;
  /** The last seq handed on for the followed run. */
  private followedSeq = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly connection: ServerConnection,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.timer = setInterval(() => {
      if (this.runsList.some((r) => !TERMINAL_STATUSES.includes(r.status))) void this.refresh();
    }, LIST_REFRESH_MS);
  }

  get runs(): readonly Run[] {
    return this.runsList;
  }

  get selectedRun(): Run | undefined {
    return this.selected;
  }

  async refresh(): Promise<void> {
    try {
      const client = await this.connection.client();
      this.runsList = (await client.listRuns(100)).runs;
      this.runsChanged.fire(this.runsList);
    } catch (e) {
      this.log.warn(`cannot list runs: ${(e as Error).message}`);
    }
  }

  async start(req: CreateRunRequest): Promise<Run> {
    const client = await this.connection.client();
    const run = await client.createRun(req);
    this.log.info(`run ${run.id} created (${run.agent})`);
    await Promise.all([this.refresh(), this.select(run.id)]);
    return run;
  }

  /** Shows a run: its whole log is replayed from the server, then live events follow. */
  async select(runId: string): Promise<void> {
    const client = await this.connection.client();
    const run = await client.getRun(runId);
    this.selected = run;
    this.selectedChanged.fire(run);
    this.followFrom(runId, 0);
  }

  /**
   * Follows the run's events after `afterSeq`, handing them on in batches. The
   * client resumes a broken stream with Last-Event-ID; a new turn after a
   * follow-up resumes here from the last seq handed on, so nothing repeats.
   */
  private followFrom(runId: string, afterSeq: number): void {
    this.follow?.abort();
    const follow = new AbortController();
    this.follow = follow;
    this.followedSeq = afterSeq;
    // Throttled with a leading edge: an event after a quiet spell goes out at once,
    // a burst goes out at most every BATCH_MS.
    let batch: RunEvent[] = [];
    let flushTimer: NodeJS.Timeout | undefined;
    let lastFlush = 0;
    const flush = () => {
      flushTimer = undefined;
      if (!batch.length || follow.signal.aborted) return;
      lastFlush = Date.now();
      this.eventsArrived.fire({ runId, events: batch });
      batch = [];
    };
    void this.connection
      .client()
      .then((client) =>
        client.followEvents(runId, {
          afterSeq,
          signal: follow.signal,
          onEvent: (e) => {
            if (e.seq <= this.followedSeq) return;
            this.followedSeq = e.seq;
            batch.push(e);
            if (!flushTimer) {
              const wait = BATCH_MS - (Date.now() - lastFlush);
              // Events parsed from one chunk all land before the microtask runs.
              if (wait <= 0) queueMicrotask(flush);
              else flushTimer = setTimeout(flush, wait);
            }
            if (REFRESHING_EVENTS.has(e.type)) void this.updateRun(runId);
          },
          onReconnect: (attempt, err) => this.log.warn(`run ${runId}: event stream broke (${err.message}); resuming, attempt ${attempt}`),
        }),
      )
      .then(() => {
        if (flushTimer) clearTimeout(flushTimer);
        flush();
      })
      .catch((e: Error) => {
        if (!follow.signal.aborted) this.log.error(`run ${runId}: cannot follow its events: ${e.message}`);
      });
  }

  async cancel(runId: string): Promise<void> {
    const client = await this.connection.client();
    await client.cancel(runId);
    await this.updateRun(runId);
  }

  async followUp(runId: string, message: string, command?: string): Promise<void> {
    const client = await this.connection.client();
    await client.followUp(runId, command ? { message, command } : { message });
    await this.refresh();
    if (this.selected?.id !== runId) return this.select(runId);
    // The new turn continues the same log: pick it up after the last event already shown.
    await this.updateRun(runId);
    this.followFrom(runId, this.followedSeq);
  }

  private async updateRun(runId: string): Promise<void> {
    try {
      const client = await this.connection.client();
      const run = await client.getRun(runId);
      if (this.selected?.id === runId) {
        this.selected = run;
        this.runUpdated.fire(run);
      }
      const i = this.runsList.findIndex((r) => r.id === runId);
      if (i >= 0) {
        this.runsList[i] = run;
        this.runsChanged.fire(this.runsList);
      }
    } catch (e) {
      this.log.warn(`cannot refresh run ${runId}: ${(e as Error).message}`);
    }
  }

  dispose(): void {
    clearInterval(this.timer);
    this.follow?.abort();
    this.runsChanged.dispose();
    this.selectedChanged.dispose();
    this.runUpdated.dispose();
    this.eventsArrived.dispose();
  }
}
