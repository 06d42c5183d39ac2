// The run lifecycle: queued -> provisioning -> running -> succeeded | failed |
// cancelled (or interrupted by a server crash). A run gets a sandbox session
// seeded from its snapshot, a git baseline, its agent, and after each turn a
// diff against that baseline (runDiffs).
import { randomBytes } from 'node:crypto';
import type { Agent, AgentContext, AgentOutcome } from '../agents/agent';
import type { WorkspaceReader } from '../agents/prompts/taskPrompt';
import type { ModelCall } from '../gateway/modelGateway';
import type { RunTokens } from '../gateway/runTokens';
import type { SandboxAttachments } from '../sandboxes/sandboxProvider';
import {
  TERMINAL_STATUSES,
  type AgentName,
  type CreateRunRequest,
  type FollowUpRequest,
  type Run,
  type BaseFiles,
  type RunDiff,
  type RunEvent,
  type RunStatus,
} from '../contract/runApi';
import { AppError } from '../errors';
import type { SessionManager } from '../sessions/sessionManager';
import type { SnapshotStore } from '../snapshots/snapshotStore';
import type { RunStore } from '../store/runStore';
import { HostWorkspaceDiffer } from './hostWorkspaceDiffer';
import { RunDiffs } from './runDiffs';
import { RunEventLog, type RunEventListener } from './runEventLog';
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
  differ?: WorkspaceDiffer;
}

export interface ModelGatewayAccess {
  tokens: RunTokens;
  socketPath: string;
  /** The port the sandbox's loopback relay listens on. */
  relayPort: number;
  model: string;
}

/** How often the baselines of runs whose sandbox has ended are removed. */
const BASELINE_SWEEP_MS = 30_000;
/** One answer of base files stays well under what a JSON body should carry. */
const BASE_FILES_MAX_BYTES = 32 * 1024 * 1024;

interface Active {
  run: Run;
  events: RunEventLog;
  /** Aborted by cancel or the time limit; a new one for each turn. */
  abort: AbortController;
}

export class RunService {
  private readonly active = new Map<string, Active>();
  private readonly queue: string[] = [];
  private running = 0;
  private readonly diffs: RunDiffs;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly opts: RunServiceOptions) {
    this.diffs = new RunDiffs(opts.differ ?? new HostWorkspaceDiffer(), opts.snapshots, opts.store);
  }

  /** Runs that were in flight when the server died are interrupted, with a final event. */
  start(): void {
    for (const run of this.opts.store.allRuns()) {
      if (TERMINAL_STATUSES.includes(run.status)) continue;
      const events = new RunEventLog(this.opts.store, run.id, this.lastSeqOf(run), this.opts.maxLogOutputBytes);
      run.status = 'interrupted';
      run.error = 'the server stopped while this run was in flight';
      run.finished_at = new Date().toISOString();
      events.emit('run.finished', { status: run.status, error: run.error }, true);
      run.last_seq = events.lastSeq;
      this.save(run);
      this.opts.store.closeRun(run.id);
      this.opts.log({ run_id: run.id }, 'run interrupted by a restart');
    }
    this.sweeper = setInterval(() => void this.sweepBaselines(), BASELINE_SWEEP_MS);
    this.sweeper.unref();
  }

  /** A baseline lives as long as its run's sandbox (follow-ups diff against it too). */
  private async sweepBaselines(): Promise<void> {
    const running = new Set(
      this.opts.sessions
        .list()
        .filter((s) => s.status === 'running')
        .map((s) => s.id),
    );
    await this.diffs.sweep((runId) => {
      const sessionId = this.opts.store.getRun(runId)?.session_id;
      return this.active.has(runId) || (sessionId !== undefined && running.has(sessionId));
    });
  }

  create(req: CreateRunRequest): Run {
    const agent = this.agent(req.agent);
    const reason = agent.unavailableReason();
    if (reason) throw new AppError('INVALID_REQUEST', `agent "${req.agent}" is not available: ${reason}`);
    if (req.agent === 'command' && !req.task.command) throw new AppError('INVALID_REQUEST', 'the command agent needs task.command');
    if (!this.opts.snapshots.get(req.snapshot_id))
      throw new AppError('INVALID_REQUEST', `no snapshot "${req.snapshot_id}"; upload one to POST /api/snapshots`);
    const now = new Date().toISOString();
    const run: Run = {
      id: randomBytes(10).toString('hex'),
      agent: req.agent,
      task: req.task,
      status: 'queued',
      created_at: now,
      updated_at: now,
      snapshot_id: req.snapshot_id,
      last_seq: 0,
    };
    const events = new RunEventLog(this.opts.store, run.id, 0, this.opts.maxLogOutputBytes);
    this.save(run);
    this.active.set(run.id, { run, events, abort: new AbortController() });
    events.emit('run.created', { agent: run.agent, task: run.task }, true);
    run.last_seq = events.lastSeq;
    this.save(run);
    this.queue.push(run.id);
    this.pump();
    return run;
  }

  get(id: string): Run {
    const run = this.opts.store.getRun(id);
    if (!run) throw new AppError('RUN_NOT_FOUND', `no run "${id}"`);
    return run;
  }

  list(limit: number, cursor?: string) {
    return this.opts.store.listRuns(limit, cursor);
  }

  diff(id: string): RunDiff {
    this.get(id);
    return this.opts.store.getDiff(id) ?? { run_id: id, files: [] };
  }

  /** Files as the run's snapshot had them, up to BASE_FILES_MAX_BYTES per answer. */
  async baseFiles(id: string, paths: readonly string[]): Promise<BaseFiles> {
    const run = this.get(id);
    const contents = await this.opts.snapshots.readFiles(run.snapshot_id, paths, BASE_FILES_MAX_BYTES);
    const manifest = this.opts.snapshots.manifest(run.snapshot_id);
    const files: BaseFiles['files'] = [];
    const remaining: string[] = [];
    for (const [path, content] of contents) {
      if (content) files.push({ path, content_base64: content.toString('base64') });
      else if (manifest.get(path)?.type === 'file')
        remaining.push(path); // left out by the size cap
      else files.push({ path });
    }
    return { files, remaining };
  }

  /**
   * Files as the run left them in its sandbox (binary files have no patch to
   * rebuild them from), while the sandbox lives: 410 once it has ended.
   */
  async proposedFiles(id: string, paths: readonly string[]): Promise<BaseFiles> {
    const run = this.get(id);
    try {
      if (!run.session_id) throw new Error('no sandbox');
      this.opts.sessions.assertUsable(run.session_id);
    } catch {
      throw new AppError(
        'SESSION_EXPIRED',
        `run "${id}"'s sandbox has ended, and with it the agent's files; start the run again to get them`,
      );
    }
    const files: BaseFiles['files'] = [];
    const remaining: string[] = [];
    let bytes = 0;
    for (const path of paths) {
      if (bytes >= BASE_FILES_MAX_BYTES) {
        remaining.push(path);
        continue;
      }
      try {
        const r = await this.opts.sessions.readFile(run.session_id, path, BASE_FILES_MAX_BYTES);
        if (r.truncated) throw new AppError('RESOURCE_EXHAUSTED', `${path} is larger than ${BASE_FILES_MAX_BYTES} bytes`);
        bytes += r.content.length;
        files.push({ path, content_base64: r.content.toString('base64') });
      } catch (e) {
        if (e instanceof AppError && (e.details as { reason?: string } | undefined)?.reason === 'not_found') files.push({ path });
        else throw e;
      }
    }
    return { files, remaining };
  }

  /**
   * Replays the events after `afterSeq` and follows live ones. `onEnd` is
   * called once the run has finished and everything was delivered.
   */
  follow(id: string, afterSeq: number, onEvent: RunEventListener): { past: RunEvent[]; live: boolean; unsubscribe: () => void } {
    this.get(id);
    const active = this.active.get(id);
    if (!active) return { past: this.opts.store.readEvents(id, afterSeq), live: false, unsubscribe: () => undefined };
    const { past, unsubscribe } = active.events.replayAndSubscribe(afterSeq, onEvent);
    return { past, live: true, unsubscribe };
  }

  cancel(id: string): Run {
    const run = this.get(id);
    const active = this.active.get(id);
    if (!active || TERMINAL_STATUSES.includes(run.status)) return run;
    if (run.status === 'queued') {
      this.queue.splice(this.queue.indexOf(id), 1);
      this.finish(active, 'cancelled', 'cancelled before it started');
      return active.run;
    }
    active.abort.abort(new Error('cancelled'));
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
    const events = new RunEventLog(this.opts.store, run.id, run.last_seq, this.opts.maxLogOutputBytes);
    const active: Active = { run, events, abort: new AbortController() };
    this.active.set(id, active);
    run.error = undefined;
    run.finished_at = undefined;
    events.emit('run.followup', { message: req.message, command: req.command }, true);
    this.setStatus(active, 'running');
    void this.turn(active, (agent, ctx) => agent.followUp(ctx, req));
    return run;
  }

  /** The gateway reports each model call; its tokens count toward the run's usage. */
  recordModelCall(call: ModelCall): void {
    const active = this.active.get(call.runId);
    if (!active) return;
    const { run, events } = active;
    if (call.usage) {
      const u = run.usage ?? { input_tokens: 0, output_tokens: 0, total_tokens: 0 };
      run.usage = {
        input_tokens: u.input_tokens + call.usage.input_tokens,
        output_tokens: u.output_tokens + call.usage.output_tokens,
        total_tokens: u.total_tokens + call.usage.total_tokens,
      };
    }
    events.emit('model.call', {
      path: call.path,
      status: call.status,
      duration_ms: call.durationMs,
      usage: call.usage,
      error: call.error,
      total_usage: run.usage,
    });
    this.save(run, events);
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const a of this.active.values()) a.abort.abort(new Error('the server is stopping'));
  }

  private agent(name: AgentName): Agent {
    const agent = this.opts.agents.find((a) => a.name === name);
    if (!agent) throw new AppError('INVALID_REQUEST', `agent "${name}" is not available on this server`);
    return agent;
  }

  private attachmentsFor(agent: Agent): SandboxAttachments {
    const own = agent.sandboxAttachments();
    if (!agent.usesModel) return own;
    return { ...own, loopbackRelay: { hostSocket: this.opts.gateway.socketPath, port: this.opts.gateway.relayPort } };
  }

  /** Files as the snapshot lists them; contents as they are in the sandbox now. */
  private workspaceReader(snapshotId: string, sessionId: string): WorkspaceReader {
    let files: string[] | undefined;
    return {
      files: () => (files ??= [...this.opts.snapshots.manifest(snapshotId).values()].filter((e) => e.type === 'file').map((e) => e.path)),
      read: async (path) => {
        try {
          const { content } = await this.opts.sessions.readFile(sessionId, path, 2 * 1024 * 1024);
          return content.includes(0) ? undefined : content.toString('utf8');
        } catch {
          return undefined;
        }
      },
    };
  }

  private pump(): void {
    while (this.running < this.opts.maxConcurrentRuns && this.queue.length > 0) {
      const id = this.queue.shift()!;
      const active = this.active.get(id);
      if (!active) continue;
      this.running++;
      void this.provisionAndStart(active).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async provisionAndStart(active: Active): Promise<void> {
    const { run } = active;
    this.setStatus(active, 'provisioning');
    try {
      const session = await this.opts.sessions.create(
        { ttl_seconds: this.opts.sessionTtlSeconds },
        { seed: this.diffs.seeder(run), attachments: this.attachmentsFor(this.agent(run.agent)) },
      );
      run.session_id = session.id;
      active.events.emit('sandbox.ready', { session_id: session.id }, true);
    } catch (e) {
      await this.diffs.remove(run.id);
      this.finish(active, 'failed', `provisioning failed: ${(e as Error).message}`);
      return;
    }
    if (active.abort.signal.aborted) {
      this.finish(active, 'cancelled', undefined);
      return;
    }
    this.setStatus(active, 'running');
    await this.turn(active, (agent, ctx) => agent.start(ctx));
  }

  /** One agent turn (the start or a follow-up), then the diff and the final status. */
  private async turn(active: Active, work: (agent: Agent, ctx: AgentContext) => Promise<AgentOutcome>): Promise<void> {
    const { run, events } = active;
    const abort = active.abort;
    const deadline = Date.now() + this.opts.maxRunSeconds * 1000;
    const timer = setTimeout(
      () => abort.abort(new Error(`the run exceeded its ${this.opts.maxRunSeconds} s limit`)),
      this.opts.maxRunSeconds * 1000,
    );
    const sessionId = run.session_id!;
    const agent = this.agent(run.agent);
    const { gateway } = this.opts;
    const model = agent.usesModel
      ? {
          token: gateway.tokens.issue(run.id),
          sandboxBaseUrl: `http://127.0.0.1:${gateway.relayPort}/v1`,
          hostSocketPath: gateway.socketPath,
          model: gateway.model,
        }
      : undefined;
    const ctx: AgentContext = {
      runId: run.id,
      sessionId,
      task: run.task,
      signal: abort.signal,
      remainingMs: () => Math.max(1, deadline - Date.now()),
      emit: (type, data) => events.emit(type, data ?? {}),
      runCommand: async (command) => {
        events.emit('command.started', { command });
        const out = await this.opts.sessions.exec(sessionId, command, {
          timeoutMs: ctx.remainingMs(),
          signal: abort.signal,
          onOutput: (stream, text) => events.emit('command.output', { stream, text }),
        });
        events.emit('command.finished', {
          command,
          exit_code: out.exitCode,
          duration_ms: out.durationMs,
          truncated: out.truncated,
          timed_out: out.timedOut,
          cancelled: out.cancelled,
        });
        return out;
      },
      exec: (command, onOutput) =>
        this.opts.sessions.exec(sessionId, command, { timeoutMs: ctx.remainingMs(), signal: abort.signal, separateStderr: true, onOutput }),
      workspace: this.workspaceReader(run.snapshot_id, sessionId),
      model,
    };
    let outcome: AgentOutcome;
    try {
      outcome = await work(agent, ctx);
    } catch (e) {
      outcome = { status: 'failed', error: (e as Error).message };
    } finally {
      clearTimeout(timer);
      // The token dies with the turn, and any model call still open with it.
      if (model) gateway.tokens.revoke(run.id);
    }
    // The diff is computed whatever happened: a cancelled run keeps what it did so far.
    await this.computeDiff(active);
    if (abort.signal.aborted) {
      const reason = (abort.signal.reason as Error | undefined)?.message ?? 'cancelled';
      this.finish(active, reason === 'cancelled' ? 'cancelled' : 'failed', reason === 'cancelled' ? undefined : reason);
    } else {
      this.finish(active, outcome.status, outcome.error);
    }
  }

  private async computeDiff(active: Active): Promise<void> {
    await this.diffs.record(active.run, active.events);
  }

  private setStatus(active: Active, status: RunStatus): void {
    const { run } = active;
    run.status = status;
    if (status === 'running' && !run.started_at) run.started_at = new Date().toISOString();
    active.events.emit('run.status', { status }, true);
    this.save(run, active.events);
  }

  private finish(active: Active, status: RunStatus, error?: string): void {
    const { run } = active;
    run.status = status;
    run.error = error;
    run.finished_at = new Date().toISOString();
    active.events.emit('run.finished', { status, ...(error ? { error } : {}) }, true);
    this.save(run, active.events);
    this.opts.store.closeRun(run.id);
    this.active.delete(run.id);
    this.opts.log({ run_id: run.id, status, error }, 'run finished');
  }

  private save(run: Run, events?: RunEventLog): void {
    run.updated_at = new Date().toISOString();
    if (events) run.last_seq = events.lastSeq;
    this.opts.store.saveRun(run);
  }

  private lastSeqOf(run: Run): number {
    const events = this.opts.store.readEvents(run.id, run.last_seq);
    return events.length ? events[events.length - 1].seq : run.last_seq;
  }
}
