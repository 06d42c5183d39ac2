// The runs the user sees: the list, and the one run shown in the sidebar,
// whose events are followed from the server (resuming after a broken
// stream) and handed on in small append-only batches. The runs are fetched
// once when the server connects; after that their events keep them up to
// date (the shown run's stream, and a stream for each other run under way).
import * as vscode from 'vscode';
import { TERMINAL_STATUSES, type CreateRunRequest, type Run, type RunEvent } from '@astraforge/contract/runApi';
import type { NetworkPolicyRequest } from '@astraforge/contract/networkPolicy';
import type { ConnectionState } from '@astraforge/contract/webviewMessages';
import type { FollowOptions, ServerClient } from '../server/serverClient';
import type { ServerConnection } from '../server/serverConnection';
import { runAfterEvent } from './runAfterEvent';
import type { ShownRunMemory } from './shownRunMemory';

const BATCH_MS = 40;
const LISTED_RUNS = 100;

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
  /** The stream of runs created and changed on the server (by any window, or an alert). */
  private changes?: AbortController;
  /** The streams of the listed runs under way other than the shown one, which keep their entries current. */
  private readonly watches = new Map<string, AbortController>();
  private readonly connectionChanges: vscode.Disposable;

  /**
   * `listedFolders` says which runs the list holds: those of these workspace
   * folders (their URIs), or every run of the user when it gives undefined.
   * `memory` (a file in the workspace storage) keeps the shown run's id, so a reloaded
   * window shows it again: the view's own saved state may not have been
   * written before the page went.
   */
  constructor(
    private readonly connection: ServerConnection,
    private readonly log: vscode.LogOutputChannel,
    private readonly listedFolders: () => readonly string[] | undefined = () => undefined,
    private readonly memory?: ShownRunMemory,
  ) {
    this.connectionChanges = connection.onDidChange((state) => this.onConnection(state));
  }

  get runs(): readonly Run[] {
    return this.runsList;
  }

  get selectedRun(): Run | undefined {
    return this.selected;
  }

  /** The run shown now, else the one this folder's window showed last (before a reload). */
  shownRunId(): string | undefined {
    return this.selected?.id ?? this.memory?.get();
  }

  async refresh(): Promise<void> {
    try {
      const client = await this.connection.client();
      this.runsList = await this.listRuns(client);
      this.runsChanged.fire(this.runsList);
      this.watchRunsUnderWay();
    } catch (e) {
      this.log.warn(`cannot list runs: ${(e as Error).message}`);
    }
  }

  /** The newest runs of the listed folders (each folder's, merged), or of the user. */
  private async listRuns(client: ServerClient): Promise<Run[]> {
    const folders = this.listedFolders();
    if (!folders) return (await client.listRuns(LISTED_RUNS)).runs;
    const lists = await Promise.all(folders.map(async (uri) => (await client.listRuns(LISTED_RUNS, uri)).runs));
    return lists
      .flat()
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
      .slice(0, LISTED_RUNS);
  }

  async start(req: CreateRunRequest): Promise<Run> {
    const client = await this.connection.client();
    const run = await client.createRun(req);
    this.log.info(`run ${run.id} created (${run.agent})`);
    await Promise.all([this.refresh(), this.select(run.id)]);
    return run;
  }

  /** A run as the server has it now. */
  async run(runId: string): Promise<Run> {
    return (await this.connection.client()).getRun(runId);
  }

  /** Shows a run: its whole log is replayed from the server, then live events follow. */
  async select(runId: string): Promise<void> {
    const client = await this.connection.client();
    const run = await client.getRun(runId);
    this.selected = run;
    this.selectedChanged.fire(run);
    this.followFrom(runId, 0);
    this.watchRunsUnderWay();
    this.memory?.set(runId);
  }

  async cancel(runId: string): Promise<void> {
    const client = await this.connection.client();
    // The run's end arrives with its events (the shown run's stream, or its own).
    await client.cancel(runId);
  }

  async followUp(runId: string, message: string, command?: string, network?: NetworkPolicyRequest): Promise<void> {
    const client = await this.connection.client();
    await client.followUp(runId, { message, ...(command ? { command } : {}), ...(network ? { network } : {}) });
    if (this.selected?.id !== runId) return this.select(runId);
    // The new turn continues the same log: pick it up after the last event already shown.
    this.followFrom(runId, this.followedSeq);
  }

  /**
   * Follows the shown run's events after `afterSeq`, handing them on in
   * batches. The client resumes a broken stream with Last-Event-ID; a new
   * turn after a follow-up resumes here from the last seq handed on, so
   * nothing repeats.
   */
  private followFrom(runId: string, afterSeq: number): void {
    this.follow?.abort();
    const follow = new AbortController();
    this.follow = follow;
    this.followedSeq = afterSeq;
    let received = afterSeq;
    // Throttled with a leading edge: an event after a quiet spell goes out at once,
    // a burst goes out at most every BATCH_MS.
    let batch: RunEvent[] = [];
    let flushTimer: NodeJS.Timeout | undefined;
    let lastFlush = 0;
    const flush = () => {
      flushTimer = undefined;
      // A stopped follow hands on nothing more; whoever resumes it starts after followedSeq.
      if (!batch.length || follow.signal.aborted) return;
      lastFlush = Date.now();
      this.followedSeq = batch[batch.length - 1].seq;
      this.eventsArrived.fire({ runId, events: batch });
      batch = [];
    };
    void this.followRun(runId, afterSeq, follow.signal, (e) => {
      if (e.seq <= received) return;
      received = e.seq;
      batch.push(e);
      if (!flushTimer) {
        const wait = BATCH_MS - (Date.now() - lastFlush);
        // Events parsed from one chunk all land before the microtask runs.
        if (wait <= 0) queueMicrotask(flush);
        else flushTimer = setTimeout(flush, wait);
      }
      this.applyEvent(runId, e);
    }).then(() => {
      if (flushTimer) clearTimeout(flushTimer);
      flush();
    });
  }

  /**
   * Follows the events of every listed run under way but the shown one, from
   * the list's last seq, for the changes they make to the run; each stream
   * ends with its run's turn.
   */
  private watchRunsUnderWay(): void {
    for (const [runId, watch] of this.watches)
      if (runId === this.selected?.id || !this.runsList.some((r) => r.id === runId)) {
        watch.abort();
        this.watches.delete(runId);
      }
    for (const run of this.runsList) {
      if (TERMINAL_STATUSES.includes(run.status) || run.id === this.selected?.id || this.watches.has(run.id)) continue;
      const watch = new AbortController();
      this.watches.set(run.id, watch);
      void this.followRun(run.id, run.last_seq, watch.signal, (e) => this.applyEvent(run.id, e)).then(() => {
        if (this.watches.get(run.id) === watch) this.watches.delete(run.id);
      });
    }
  }

  /** Follows one run's events until its turn ends or `signal` aborts; failures are logged. */
  private async followRun(runId: string, afterSeq: number, signal: AbortSignal, onEvent: FollowOptions['onEvent']): Promise<void> {
    try {
      const client = await this.connection.client();
      await client.followEvents(runId, {
        afterSeq,
        signal,
        onEvent,
        onReconnect: (attempt, err) => this.log.warn(`run ${runId}: event stream broke (${err.message}); resuming, attempt ${attempt}`),
        onSkipped: (s) =>
          this.log.warn(
            `run ${runId}: skipped event ${s.seq ?? '?'} (${s.type}): ${s.reason}; later ones of its type are skipped silently`,
          ),
      });
    } catch (e) {
      if (!signal.aborted) this.log.error(`run ${runId}: cannot follow its events: ${(e as Error).message}`);
    }
  }

  /** Brings the shown run and the run's list entry up to date with one of its events. */
  private applyEvent(runId: string, e: RunEvent): void {
    if (this.selected?.id === runId) {
      const run = runAfterEvent(this.selected, e);
      if (run) {
        this.selected = run;
        this.runUpdated.fire(run);
      }
    }
    const i = this.runsList.findIndex((r) => r.id === runId);
    const listed = i >= 0 ? runAfterEvent(this.runsList[i], e) : undefined;
    if (listed) {
      this.runsList[i] = listed;
      this.runsChanged.fire(this.runsList);
    }
  }

  /**
   * Streams hold the client they started with: when the connection goes they
   * stop, and when it comes back the runs are fetched again (the one fetch for
   * the state the events then update) and the shown run's stream resumes.
   */
  private onConnection(state: ConnectionState): void {
    this.stopStreams();
    if (state.status !== 'connected') return;
    void this.followRunChanges();
    if (this.selected) void this.resumeSelected(this.selected.id);
    else void this.showRemembered();
  }

  /** Shows the run this folder's window showed last (before a reload), if the server still has it. */
  private async showRemembered(): Promise<void> {
    const runId = this.memory?.get();
    if (!runId) return;
    try {
      await this.select(runId);
    } catch (e) {
      this.log.info(`the run shown before, ${runId}, is not shown again: ${(e as Error).message}`);
      this.memory?.set(undefined);
    }
  }

  private async resumeSelected(runId: string): Promise<void> {
    try {
      const client = await this.connection.client();
      const run = await client.getRun(runId);
      if (this.selected?.id !== runId) return;
      this.selected = run;
      this.runUpdated.fire(run);
      this.followFrom(runId, this.followedSeq);
    } catch (e) {
      this.log.warn(`cannot resume run ${runId}: ${(e as Error).message}`);
    }
  }

  /**
   * Keeps the list current with the runs other windows and alerts start: the
   * list is fetched each time the stream of changes follows (so nothing
   * created meanwhile is missed), then each change is applied.
   */
  private async followRunChanges(): Promise<void> {
    const changes = new AbortController();
    this.changes = changes;
    try {
      const client = await this.connection.client();
      await client.followRunChanges({
        signal: changes.signal,
        onReady: () => void this.refresh(),
        onRun: (run) => this.applyRunChange(run),
        onReconnect: (attempt, err) =>
          this.log.warn(`the stream of run changes broke (${err.message}); opening it again, attempt ${attempt}`),
        onSkipped: (reason) => this.log.warn(`skipped ${reason}`),
      });
    } catch (e) {
      // A server without the stream (older, or remote): the list as it is now, and the runs' own streams.
      if (!changes.signal.aborted) {
        this.log.warn(`runs created elsewhere will show after a reconnect: ${(e as Error).message}`);
        void this.refresh();
      }
    }
  }

  /** A run created or changed on the server: into the list if the list holds its folder's runs. */
  private applyRunChange(run: Run): void {
    const folders = this.listedFolders();
    // As the server lists them: an alert's run is in every folder's list.
    if (folders && !run.source && !(run.workspace && folders.includes(run.workspace.uri))) return;
    const i = this.runsList.findIndex((r) => r.id === run.id);
    if (i >= 0) {
      if (run.updated_at < this.runsList[i].updated_at) return; // its own stream was ahead
      this.runsList[i] = run;
    } else {
      this.runsList = [run, ...this.runsList].sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, LISTED_RUNS);
    }
    this.runsChanged.fire(this.runsList);
    this.watchRunsUnderWay();
  }

  private stopStreams(): void {
    this.changes?.abort();
    this.follow?.abort();
    for (const watch of this.watches.values()) watch.abort();
    this.watches.clear();
  }

  dispose(): void {
    this.connectionChanges.dispose();
    this.stopStreams();
    this.runsChanged.dispose();
    this.selectedChanged.dispose();
    this.runUpdated.dispose();
    this.eventsArrived.dispose();
  }
}
