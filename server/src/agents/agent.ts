// The agent interface: what a run needs from the thing doing the work.
// Agents run inside the run's sandbox session and report through events.
import type { AgentName, FollowUpRequest, RunTask } from '../contract/runApi';
import type { ExecOutcome } from '../sessions/sessionManager';

export interface AgentContext {
  runId: string;
  sessionId: string;
  task: RunTask;
  /** Aborts when the run is cancelled or runs out of time. */
  signal: AbortSignal;
  /** Milliseconds the run may still use. */
  remainingMs(): number;
  emit(type: string, data?: Record<string, unknown>): void;
  /** Runs a shell command in the run's sandbox, streaming its output as command.* events. */
  runCommand(command: string): Promise<ExecOutcome>;
}

export interface AgentOutcome {
  status: 'succeeded' | 'failed';
  error?: string;
}

export interface Agent {
  readonly name: AgentName;
  /** Why the agent cannot run here (not configured, not installed), or undefined when it can. */
  unavailableReason(): string | undefined;
  start(ctx: AgentContext): Promise<AgentOutcome>;
  followUp(ctx: AgentContext, req: FollowUpRequest): Promise<AgentOutcome>;
}
