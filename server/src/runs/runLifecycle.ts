// The run lifecycle: queued -> provisioning -> running -> succeeded | failed |
// cancelled (or interrupted by a server crash). A run gets a sandbox session
// seeded from its snapshot, a git baseline, its agent, and after each turn a
// diff against that baseline (runDiffs); a follow-up is another turn in the
// same sandbox.
import {
  RunEventName,
  TERMINAL_STATUSES,
  type AgentName,
  type FollowUpRequest,
  type Run,
  type RunStatus,
} from '@astraforge/contract/runApi';
import type { Agent, AgentContext, AgentOutcome } from '../agents/agent';
import type { EgressObserver } from '../egress/egressListener';
import type { NetworkPolicyRequest } from '@astraforge/contract/networkPolicy';
import type { SessionManager } from '../sessions/sessionManager';
import type { RunStore } from '../store/runStore';
import type { AgentContexts } from './agentContexts';
import type { RunDiffs } from './runDiffs';
import { RunEventLog } from './runEventLog';
import type { RunWorkspaces } from './runWorkspaces';
import { envExports } from '../environments/environmentSetup';

/** A run the server is working on (queued, provisioning, or in a turn). */
export interface ActiveRun {
  run: Run;
  events: RunEventLog;
  /** Aborted by cancel, the time limit or the server stopping; a new one for each turn. */
  abort: AbortController;
}

/** The abort reason of a turn the user cancelled; any other reason fails the run with its message. */
export class RunCancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

export interface RunLifecycleOptions {
  store: RunStore;
  sessions: SessionManager;
  diffs: RunDiffs;
  /** The run's workspace in layers: snapshot, environment, its own. */
  workspaces: RunWorkspaces;
  contexts: AgentContexts;
  agent: (name: AgentName) => Agent;
  /** Who hears of a run's network traffic (its events and usage). */
  networkObserver: (runId: string) => EgressObserver;
  /** Wall-clock limit of one turn, seconds. */
  maxRunSeconds: number;
  /** How long a finished run's sandbox stays for follow-ups, seconds (its session ttl). */
  sessionTtlSeconds: number;
  /** Output kept per run log before the oldest is collapsed, bytes. */
  maxLogOutputBytes: number;
  log: (obj: Record<string, unknown>, msg: string) => void;
  /** Told of a run when it is created and each time its status changes (GET /api/runs/changes). */
  onRunChanged?: (run: Run) => void;
}

export class RunLifecycle {
  private readonly active = new Map<string, ActiveRun>();
  /** The status each run was last announced with (onRunChanged). */
  private readonly announced = new Map<string, Run['status']>();

  constructor(private readonly opts: RunLifecycleOptions) {}

  activeRun(id: string): ActiveRun | undefined {
    return this.active.get(id);
  }

  /** Runs that were in flight when the server died are interrupted, with a final event. */
  interruptStale(): void {
    for (const run of this.opts.store.allRuns()) {
      if (TERMINAL_STATUSES.includes(run.status)) continue;
      const events = this.eventLog(run.id, this.lastSeqOf(run));
      run.status = 'interrupted';
      run.error = 'the server stopped while this run was in flight';
      run.finished_at = new Date().toISOString();
      events.emit(RunEventName.runFinished, { status: run.status, error: run.error });
      this.save(run, events);
      this.opts.store.closeRun(run.id);
      this.opts.log({ run_id: run.id }, 'run interrupted by a restart');
    }
  }

  /** A new run, saved and announced, waiting for its slot. */
  admit(run: Run): void {
    const events = this.eventLog(run.id, 0);
    this.save(run);
    this.active.set(run.id, { run, events, abort: new AbortController() });
    events.emit(RunEventName.runCreated, { agent: run.agent, task: run.task });
    this.save(run, events);
  }

  /** Provisions the run's sandbox, then runs the agent's first turn. */
  async start(runId: string): Promise<void> {
    const active = this.active.get(runId);
    if (!active) return;
    const { run } = active;
    this.setStatus(active, 'provisioning');
    try {
      const { extras, environment } = await this.opts.workspaces.provision(run, active.events, active.abort.signal);
      const network = run.network ?? this.environmentNetwork(environment?.definition.network.agent, active.events, 'the agent');
      const session = await this.opts.sessions.create(
        {
          ttl_seconds: this.opts.sessionTtlSeconds,
          ...(environment?.image ? { image: environment.image } : {}),
          // The run's own policy, else its environment's for the agent phase; the session bounds either by the server's.
          ...(network ? { network } : {}),
        },
        {
          ...extras,
          attachments: this.opts.contexts.attachmentsFor(this.opts.agent(run.agent)),
          networkObserver: this.opts.networkObserver(run.id),
        },
      );
      run.session_id = session.id;
      const vars = environment ? envExports(environment.definition.env) : '';
      // The shell is stateful: what it exports now, every later command and agent process inherits.
      if (vars) await this.opts.sessions.exec(session.id, vars, { timeoutMs: 10_000 });
      active.events.emit(RunEventName.sandboxReady, { session_id: session.id });
    } catch (e) {
      await this.opts.diffs.remove(run.id);
      this.opts.workspaces.release(run.id);
      if (active.abort.signal.aborted) this.finishAborted(active, active.abort.signal.reason);
      else this.finish(active, 'failed', `provisioning failed: ${(e as Error).message}`);
      return;
    }
    if (active.abort.signal.aborted) {
      this.finish(active, 'cancelled', undefined);
      return;
    }
    this.setStatus(active, 'running');
    await this.turn(active, (agent, ctx) => agent.start(ctx));
  }

  /** A follow-up: another turn in the finished run's sandbox (the caller checked that it lives). */
  continue(run: Run, req: FollowUpRequest): void {
    const active: ActiveRun = { run, events: this.eventLog(run.id, run.last_seq), abort: new AbortController() };
    this.active.set(run.id, active);
    run.error = undefined;
    run.finished_at = undefined;
    active.events.emit(RunEventName.runFollowup, {
      message: req.message,
      command: req.command,
      ...(req.network && run.network ? { network: run.network } : {}),
    });
    this.setStatus(active, 'running');
    void this.turn(active, (agent, ctx) => agent.followUp(ctx, req));
  }

  /** Ends a run that never left the queue. */
  cancelWaiting(active: ActiveRun): void {
    this.finish(active, 'cancelled', 'cancelled before it started');
  }

  /** Stops a run's provisioning or turn; it ends as cancelled, keeping its diff so far. */
  cancel(active: ActiveRun): void {
    active.abort.abort(new RunCancelled());
  }

  stopAll(): void {
    for (const a of this.active.values()) a.abort.abort(new Error('the server is stopping'));
  }

  /** How many runs are queued, provisioning or in a turn. */
  activeCount(): number {
    return this.active.size;
  }

  /** Whether a run's baseline is still needed: it is active. */
  isActive(runId: string): boolean {
    return this.active.has(runId);
  }

  save(run: Run, events?: RunEventLog): void {
    run.updated_at = new Date().toISOString();
    if (events) run.last_seq = events.lastSeq;
    this.opts.store.saveRun(run);
    // The store holds the same object the lifecycle changes: the status last told is kept apart.
    if (this.announced.get(run.id) !== run.status) {
      this.announced.set(run.id, run.status);
      this.opts.onRunChanged?.({ ...run });
    }
  }

  /** An environment file's policy for a phase, narrowed to what the server allows; what it left out is said in the run. */
  private environmentNetwork(req: NetworkPolicyRequest | undefined, events: RunEventLog, phase: string): NetworkPolicyRequest | undefined {
    const { request, dropped } = this.opts.sessions.narrowNetwork(req);
    if (dropped.length)
      events.emit(RunEventName.agentWarning, {
        item_id: 'environment',
        message: `network for ${phase}: ${dropped.join(', ')} left out, beyond what this server allows (its network.allow / network.open)`,
      });
    return request;
  }

  /** One agent turn (the start or a follow-up), then the diff and the final status. */
  private async turn(active: ActiveRun, work: (agent: Agent, ctx: AgentContext) => Promise<AgentOutcome>): Promise<void> {
    const { run, events, abort } = active;
    const limitMs = this.opts.maxRunSeconds * 1000;
    const deadline = Date.now() + limitMs;
    const timeUp = () => abort.abort(new Error(`the run exceeded its ${this.opts.maxRunSeconds} s limit`));
    const timer = setTimeout(timeUp, limitMs);
    const agent = this.opts.agent(run.agent);
    const { ctx, release } = this.opts.contexts.forTurn({
      run,
      sessionId: run.session_id!,
      agent,
      events,
      signal: abort.signal,
      deadline,
    });
    let outcome: AgentOutcome;
    try {
      outcome = await work(agent, ctx);
    } catch (e) {
      outcome = { status: 'failed', error: (e as Error).message };
    } finally {
      clearTimeout(timer);
      release();
    }
    // An agent that gave up at the deadline (a busy event loop can run its answer before the timer) failed by the limit.
    if (!abort.signal.aborted && Date.now() >= deadline) timeUp();
    // The diff is computed whatever happened: a cancelled run keeps what it did so far.
    await this.opts.diffs.record(run, events);
    if (abort.signal.aborted) this.finishAborted(active, abort.signal.reason);
    else this.finish(active, outcome.status, outcome.error);
  }

  private finishAborted(active: ActiveRun, reason: unknown): void {
    if (reason instanceof RunCancelled) this.finish(active, 'cancelled');
    else this.finish(active, 'failed', reason instanceof Error ? reason.message : String(reason));
  }

  private setStatus(active: ActiveRun, status: RunStatus): void {
    const { run } = active;
    run.status = status;
    if (status === 'running' && !run.started_at) run.started_at = new Date().toISOString();
    active.events.emit(RunEventName.runStatus, { status });
    this.save(run, active.events);
  }

  private finish(active: ActiveRun, status: RunStatus, error?: string): void {
    const { run } = active;
    run.status = status;
    run.error = error;
    run.finished_at = new Date().toISOString();
    active.events.emit(RunEventName.runFinished, { status, ...(error ? { error } : {}) });
    this.save(run, active.events);
    this.opts.store.closeRun(run.id);
    this.active.delete(run.id);
    this.opts.log({ run_id: run.id, status, error }, 'run finished');
  }

  private eventLog(runId: string, lastSeq: number): RunEventLog {
    return new RunEventLog(this.opts.store, runId, lastSeq, this.opts.maxLogOutputBytes);
  }

  private lastSeqOf(run: Run): number {
    const events = this.opts.store.readEvents(run.id, run.last_seq);
    return events.length ? events[events.length - 1].seq : run.last_seq;
  }
}
