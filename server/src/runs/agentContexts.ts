// What an agent gets for one turn: its sandbox session, the run's events
// (commands it runs stream as command.* events), the workspace to build
// prompts from, and, for agents that use a model, a gateway token that dies
// with the turn.
import { RunEventName, type Run } from '@astraforge/contract/runApi';
import type { Agent, AgentContext, ModelAccess } from '../agents/agent';
import type { WorkspaceReader } from '../agents/prompts/taskPrompt';
import type { RunTokens } from '../gateway/runTokens';
import type { SandboxAttachments } from '../sandboxes/sandboxProvider';
import type { SessionManager } from '../sessions/sessionManager';
import type { SnapshotStore } from '../snapshots/snapshotStore';
import type { RunEventLog } from './runEventLog';

export interface ModelGatewayAccess {
  tokens: RunTokens;
  socketPath: string;
  /** The port the sandbox's loopback relay listens on. */
  relayPort: number;
  model: string;
}

/** The largest file the workspace reader hands to a prompt builder. */
const PROMPT_FILE_MAX_BYTES = 2 * 1024 * 1024;

export interface TurnContext {
  ctx: AgentContext;
  /** Revokes the turn's model token, and any model call still open with it. */
  release(): void;
}

export interface TurnSpec {
  run: Run;
  sessionId: string;
  agent: Agent;
  events: RunEventLog;
  signal: AbortSignal;
  /** When the turn's time is up, ms since the epoch. */
  deadline: number;
}

/** How far past the run's deadline a command's own timeout is set. */
const BACKSTOP_GRACE_MS = 1000;

export class AgentContexts {
  constructor(
    private readonly sessions: SessionManager,
    private readonly snapshots: SnapshotStore,
    private readonly gateway: ModelGatewayAccess,
  ) {}

  /** What an agent's sandbox needs mounted: its own attachments, and the gateway relay when it uses a model. */
  attachmentsFor(agent: Agent): SandboxAttachments {
    const own = agent.sandboxAttachments();
    if (!agent.usesModel) return own;
    return { ...own, loopbackRelay: { hostSocket: this.gateway.socketPath, port: this.gateway.relayPort } };
  }

  forTurn({ run, sessionId, agent, events, signal, deadline }: TurnSpec): TurnContext {
    const model = agent.usesModel ? this.modelAccess(run) : undefined;
    // A command's own timeout is a backstop a little past the run's deadline: the run's limit ends
    // the turn first (its signal kills the command), so the run fails for the reason that holds.
    const remainingMs = () => Math.max(1, deadline - Date.now()) + BACKSTOP_GRACE_MS;
    const ctx: AgentContext = {
      runId: run.id,
      sessionId,
      task: run.task,
      signal,
      remainingMs,
      emit: (type, data) => events.emit(type, data),
      runCommand: async (command) => {
        events.emit(RunEventName.commandStarted, { command });
        const out = await this.sessions.exec(sessionId, command, {
          timeoutMs: remainingMs(),
          signal,
          onOutput: (stream, text) => events.emit(RunEventName.commandOutput, { stream, text }),
        });
        events.emit(RunEventName.commandFinished, {
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
        this.sessions.exec(sessionId, command, { timeoutMs: remainingMs(), signal, separateStderr: true, onOutput }),
      workspace: this.workspaceReader(run.snapshot_id, sessionId),
      model,
    };
    const release = () => {
      if (model) this.gateway.tokens.revoke(run.id);
    };
    return { ctx, release };
  }

  private modelAccess(run: Run): ModelAccess {
    return {
      token: this.gateway.tokens.issue(run.id),
      sandboxBaseUrl: `http://127.0.0.1:${this.gateway.relayPort}/v1`,
      hostSocketPath: this.gateway.socketPath,
      // The agent names its model in every request; the gateway only fills in one left out.
      model: run.model ?? this.gateway.model,
    };
  }

  /** Files as the snapshot lists them; contents as they are in the sandbox now. */
  private workspaceReader(snapshotId: string, sessionId: string): WorkspaceReader {
    let files: string[] | undefined;
    return {
      files: () => (files ??= [...this.snapshots.manifest(snapshotId).values()].filter((e) => e.type === 'file').map((e) => e.path)),
      read: async (path) => {
        try {
          const { content } = await this.sessions.readFile(sessionId, path, PROMPT_FILE_MAX_BYTES);
          return content.includes(0) ? undefined : content.toString('utf8');
        } catch {
          return undefined;
        }
      },
    };
  }
}
