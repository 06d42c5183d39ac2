// The run API's service: checks each request, then hands the work to the
// module that does it (the queue, the lifecycle, the review files, the
// usage count). See runLifecycle for what a run goes through.
import { randomBytes } from 'node:crypto';
import type { Agent } from '../agents/agent';
import type { ModelCall } from '../gateway/modelGateway';
import {
  TERMINAL_STATUSES,
  type AgentName,
  type FileContents,
  type CreateRunRequest,
  type FollowUpRequest,
  type Run,
  type RunSource,
  type RunDiff,
  type RunEvent,
} from '@astraforge/contract/runApi';
import { AppError } from '../errors';
import type { SessionManager } from '../sessions/sessionManager';
import type { CountedLayers } from '../snapshots/snapshotJanitor';
import type { SnapshotStore } from '../snapshots/snapshotStore';
import type { RunPage, RunPageQuery, RunStore } from '../store/runStore';
import { EnvironmentCache } from '../environments/environmentCache';
import { Environments } from '../environments/environmentSetup';
import { SnapshotLayers } from '../snapshots/snapshotLayers';
import { AgentContexts, type ModelGatewayAccess } from './agentContexts';
import { HostWorkspaceDiffer } from './hostWorkspaceDiffer';
import { RunDiffs } from './runDiffs';
import type { RunEventListener } from './runEventLog';
import { RunFiles } from './runFiles';
import { RunLifecycle } from './runLifecycle';
import { RunQueue } from './runQueue';
import type { EgressObserver } from '../egress/egressListener';
import { recordModelCall, recordNetworkAllowed, recordNetworkBlocked, recordNetworkUsage } from './runUsage';
import { afterBaselineAdopted, RunWorkspaces } from './runWorkspaces';
import type { WorkspaceDiffer } from './workspaceDiffer';

export interface RunServiceOptions {
  store: RunStore;
  sessions: SessionManager;
  snapshots: SnapshotStore;
  agents: Agent[];
  maxConcurrentRuns: number;
  /** Wall-clock limit of one run (each turn), seconds. */
  maxRunSeconds: number;
  /** How long a finished run's sandbox stays for follow-ups, seconds (its session ttl). */
  sessionTtlSeconds: number;
  /** Output kept per run log before the oldest is collapsed, bytes. */
  maxLogOutputBytes: number;
  log: (obj: Record<string, unknown>, msg: string) => void;
  /** The model gateway, for agents that use a model. */
  gateway: ModelGatewayAccess;
  /** Where baselines are kept and diffs computed; by default on the host, beside the workspace folders. */
  differ?: HostWorkspaceDiffer;
  /** Wraps the diffing for sandboxes whose workspace lives elsewhere (a pod's comes back to the host folder first). */
  wrapDiffer?: (host: HostWorkspaceDiffer) => WorkspaceDiffer;
  /** Project environments (.astraforge/environment.json): the size of the cache of built ones. */
  environments?: { maxBytes: number };
}

/** When the server is not told (config.ts has the same default). */
const DEFAULT_ENVIRONMENTS_MAX_BYTES = 10 * 1024 * 1024 * 1024;

/** How often the baselines of runs whose sandbox has ended are removed. */
const BASELINE_SWEEP_MS = 30_000;

export class RunService {
  private readonly diffs: RunDiffs;
  private readonly workspaces: RunWorkspaces;
  private readonly lifecycle: RunLifecycle;
  private readonly queue: RunQueue;
  private readonly files: RunFiles;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly runListeners = new Set<(run: Run) => void>();

  constructor(private readonly opts: RunServiceOptions) {
    const differ = opts.differ ?? new HostWorkspaceDiffer();
    const cache = new EnvironmentCache(
      opts.sessions.layerStoreDir('environments'),
      opts.environments?.maxBytes ?? DEFAULT_ENVIRONMENTS_MAX_BYTES,
    );
    this.workspaces = new RunWorkspaces(
      opts.snapshots,
      new SnapshotLayers(
        opts.sessions.layerStoreDir('snapshots'),
        opts.snapshots,
        {
          record: (gitDir, tree) => differ.recordSnapshotBaseline(gitDir, tree),
          derive: (gitDir, tree, base, changes) => differ.deriveSnapshotBaseline(gitDir, tree, base, changes),
        },
        opts.log,
        {
          available: async () => (await opts.sessions.layers.mode()) === 'overlay',
          open: (lowers, work) => opts.sessions.layers.view(lowers, work),
        },
      ),
      new Environments({
        sessions: opts.sessions,
        cache,
        sessionTtlSeconds: opts.sessionTtlSeconds,
        log: opts.log,
        releaseEnded: () => this.workspaces.sweep(this.sandboxStillUsed()),
      }),
      cache,
      differ,
    );
    const diffing = afterBaselineAdopted(opts.wrapDiffer?.(differ) ?? differ, (runId) => this.workspaces.baselineAdopted(runId));
    this.diffs = new RunDiffs(diffing, opts.snapshots, opts.store, undefined, (runId, files) =>
      this.workspaces.withoutEnvironment(runId, files),
    );
    this.lifecycle = new RunLifecycle({
      store: opts.store,
      sessions: opts.sessions,
      diffs: this.diffs,
      workspaces: this.workspaces,
      contexts: new AgentContexts(opts.sessions, opts.snapshots, opts.gateway),
      agent: (name) => this.agent(name),
      networkObserver: (runId) => this.networkObserver(runId),
      maxRunSeconds: opts.maxRunSeconds,
      sessionTtlSeconds: opts.sessionTtlSeconds,
      maxLogOutputBytes: opts.maxLogOutputBytes,
      log: opts.log,
      onRunChanged: (run) => {
        for (const listener of this.runListeners) listener(run);
      },
    });
    this.queue = new RunQueue(opts.maxConcurrentRuns, (id) => this.lifecycle.start(id));
    this.files = new RunFiles(opts.snapshots, opts.sessions);
  }

  /** The layers made from snapshots (trees and baselines, environments): the snapshot cap counts them. */
  get layerDisk(): CountedLayers {
    const workspaces = this.workspaces;
    return {
      // Lets go of the layers of sandboxes that have ended first, so they count as removable at once.
      list: () => {
        workspaces.sweep(this.sandboxStillUsed());
        return workspaces.list();
      },
      remove: (layer) => workspaces.remove(layer),
      onGrow: (listener) => workspaces.onGrow(listener),
    };
  }

  /** Interrupts the runs a previous server left in flight, and starts sweeping baselines. */
  start(): void {
    this.lifecycle.interruptStale();
    this.sweeper = setInterval(() => void this.sweepBaselines(), BASELINE_SWEEP_MS);
    this.sweeper.unref();
  }

  /** A run as asked; `source` and `model` are set only by the server itself (an alert's run), never from a request. */
  create(req: CreateRunRequest, serverSet: { source?: RunSource; model?: string } = {}): Run {
    const { source, model } = serverSet;
    const agent = this.agent(req.agent);
    const reason = agent.unavailableReason();
    if (reason) throw new AppError('INVALID_REQUEST', `agent "${req.agent}" is not available: ${reason}`);
    if (req.agent === 'command' && !req.task.command) throw new AppError('INVALID_REQUEST', 'the command agent needs task.command');
    if (!this.opts.snapshots.get(req.snapshot_id))
      throw new AppError('INVALID_REQUEST', `no snapshot "${req.snapshot_id}"; upload one to POST /api/snapshots`);
    const network = this.opts.sessions.boundNetwork(req.network);
    const now = new Date().toISOString();
    const run: Run = {
      id: randomBytes(10).toString('hex'),
      agent: req.agent,
      task: req.task,
      ...(network.mode !== 'none' ? { network } : {}),
      status: 'queued',
      created_at: now,
      updated_at: now,
      snapshot_id: req.snapshot_id,
      ...(req.workspace ? { workspace: req.workspace } : {}),
      ...(source ? { source } : {}),
      ...(model ? { model } : {}),
      last_seq: 0,
    };
    this.lifecycle.admit(run);
    this.queue.enqueue(run.id);
    return run;
  }

  get(id: string): Run {
    const run = this.opts.store.getRun(id);
    if (!run) throw new AppError('RUN_NOT_FOUND', `no run "${id}"`);
    return run;
  }

  list(query: RunPageQuery): RunPage {
    return this.opts.store.listRuns(query);
  }

  /** Runs queued, provisioning or in a turn (a follow-up's included): while there are any, the server is not idle. */
  activeRunCount(): number {
    return this.lifecycle.activeCount();
  }

  diff(id: string): RunDiff {
    this.get(id);
    return this.opts.store.getDiff(id) ?? { run_id: id, files: [] };
  }

  baseFiles(id: string, paths: readonly string[]): Promise<FileContents> {
    return this.files.base(this.get(id), paths);
  }

  proposedFiles(id: string, paths: readonly string[]): Promise<FileContents> {
    return this.files.proposed(this.get(id), paths);
  }

  /** Replays the events after `afterSeq` and, while the run is active, follows live ones. */
  /** Calls `listener` with each run created and each run whose status changed, until unsubscribed. */
  watchRuns(listener: (run: Run) => void): () => void {
    this.runListeners.add(listener);
    return () => this.runListeners.delete(listener);
  }

  follow(id: string, afterSeq: number, onEvent: RunEventListener): { past: RunEvent[]; live: boolean; unsubscribe: () => void } {
    this.get(id);
    const active = this.lifecycle.activeRun(id);
    if (!active) return { past: this.opts.store.readEvents(id, afterSeq), live: false, unsubscribe: () => undefined };
    const { past, unsubscribe } = active.events.replayAndSubscribe(afterSeq, onEvent);
    return { past, live: true, unsubscribe };
  }

  cancel(id: string): Run {
    const run = this.get(id);
    const active = this.lifecycle.activeRun(id);
    if (!active || TERMINAL_STATUSES.includes(run.status)) return run;
    if (this.queue.remove(id)) this.lifecycle.cancelWaiting(active);
    else this.lifecycle.cancel(active);
    return active.run;
  }

  followUp(id: string, req: FollowUpRequest): Run {
    const run = this.get(id);
    if (!TERMINAL_STATUSES.includes(run.status))
      throw new AppError('INVALID_REQUEST', `run "${id}" is ${run.status}; wait for it to finish or cancel it`);
    if (run.status === 'interrupted' || !run.session_id)
      throw new AppError('INVALID_REQUEST', `run "${id}" has no sandbox left to continue in`);
    try {
      this.opts.sessions.assertUsable(run.session_id);
    } catch {
      throw new AppError('INVALID_REQUEST', `run "${id}"'s sandbox has ended; start a new run`);
    }
    if (req.network) run.network = this.opts.sessions.changeNetwork(run.session_id, req.network);
    this.lifecycle.continue(run, req);
    return run;
  }

  /** The gateway reports each model call; its tokens count toward the run's usage. */
  recordModelCall(call: ModelCall): void {
    const active = this.lifecycle.activeRun(call.runId);
    if (!active) return;
    recordModelCall(active.run, active.events, call);
    this.lifecycle.save(active.run, active.events);
  }

  /**
   * The egress proxy's reports for a run's sandbox: events while a turn is on (between turns
   * nothing of the run's runs in it but what it left behind, and its log is closed), usage always.
   */
  private networkObserver(runId: string): EgressObserver {
    return {
      allowed: (c) => {
        const active = this.lifecycle.activeRun(runId);
        if (active) recordNetworkAllowed(active.events, c);
      },
      blocked: (c) => {
        const active = this.lifecycle.activeRun(runId);
        if (active) recordNetworkBlocked(active.events, c);
      },
      usage: (u) => {
        const active = this.lifecycle.activeRun(runId);
        const run = active?.run ?? this.opts.store.getRun(runId);
        if (!run) return;
        recordNetworkUsage(run, u);
        if (active) this.lifecycle.save(active.run, active.events);
        else this.opts.store.saveRun(run);
      },
    };
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.lifecycle.stopAll();
  }

  private agent(name: AgentName): Agent {
    const agent = this.opts.agents.find((a) => a.name === name);
    if (!agent) throw new AppError('INVALID_REQUEST', `agent "${name}" is not available on this server`);
    return agent;
  }

  /** A baseline lives as long as its run's sandbox (follow-ups diff against it too). */
  private async sweepBaselines(): Promise<void> {
    const stillRunning = this.sandboxStillUsed();
    await this.diffs.sweep(stillRunning);
    this.workspaces.sweep(stillRunning);
  }

  /** Whether a run still needs its baseline and layers: it is active, or its sandbox lives for follow-ups. */
  private sandboxStillUsed(): (runId: string) => boolean {
    const running = new Set(
      this.opts.sessions
        .list()
        .filter((s) => s.status === 'running')
        .map((s) => s.id),
    );
    return (runId) => {
      const sessionId = this.opts.store.getRun(runId)?.session_id;
      return this.lifecycle.isActive(runId) || (sessionId !== undefined && running.has(sessionId));
    };
  }
}
