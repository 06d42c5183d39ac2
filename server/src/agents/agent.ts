// The agent interface: what a run needs from the thing doing the work.
// Agents run inside the run's sandbox session and report through events.
import type { AgentName, FollowUpRequest, RunEventData, RunEventType, RunTask } from '@astraforge/contract/runApi';
import type { SandboxAttachments } from '../sandboxes/sandboxProvider';
import type { ExecOutcome } from '../sessions/sessionExec';
import type { WorkspaceReader } from './prompts/taskPrompt';

/** How an agent reaches the model: through the gateway, with a token that dies with the turn. */
export interface ModelAccess {
  token: string;
  /** The gateway as the sandbox sees it: the relay on the sandbox's own loopback, ending in /v1. */
  sandboxBaseUrl: string;
  /** The gateway's unix socket on the host, for agents that run inside the server. */
  hostSocketPath: string;
  model: string;
}

export interface AgentContext {
  runId: string;
  sessionId: string;
  task: RunTask;
  /** Aborts when the run is cancelled or runs out of time. */
  signal: AbortSignal;
  /** Milliseconds the run may still use. */
  remainingMs(): number;
  emit<T extends RunEventType>(type: T, data: RunEventData<T>): void;
  /** Runs a shell command in the run's sandbox, streaming its output as command.* events. */
  runCommand(command: string): Promise<ExecOutcome>;
  /** Runs a command in the sandbox whose output the agent reads itself (no command.* events). */
  exec(command: string, onOutput: (stream: 'stdout' | 'stderr', text: string) => void): Promise<ExecOutcome>;
  /** The workspace as the run started it, for building prompts. */
  workspace: WorkspaceReader;
  /** Present for model-driven agents. */
  model?: ModelAccess;
}

/** An event an agent's output translates into, before the run's log numbers it. */
export type AgentEvent = { [T in RunEventType]: { type: T; data: RunEventData<T> } }[RunEventType];

export interface AgentOutcome {
  status: 'succeeded' | 'failed';
  error?: string;
}

export interface Agent {
  readonly name: AgentName;
  /** Whether the agent talks to a model (and so needs the gateway and a token). */
  readonly usesModel: boolean;
  /** Why the agent cannot run here (not configured, not installed), or undefined when it can. */
  unavailableReason(): string | undefined;
  /** What the agent needs mounted into its sandbox. */
  sandboxAttachments(): SandboxAttachments;
  start(ctx: AgentContext): Promise<AgentOutcome>;
  followUp(ctx: AgentContext, req: FollowUpRequest): Promise<AgentOutcome>;
}
