// Stands for a model-driven agent this server cannot run, so that asking for
// it fails the request with a clear reason instead of a run that never starts.
import type { AgentName } from '../contract/runApi';
import type { SandboxAttachments } from '../sandboxes/sandboxProvider';
import type { Agent, AgentOutcome } from './agent';

export class UnavailableAgent implements Agent {
  readonly usesModel = false;
  constructor(
    readonly name: AgentName,
    private readonly reason: string,
  ) {}

  unavailableReason(): string {
    return this.reason;
  }

  sandboxAttachments(): SandboxAttachments {
    return {};
  }

  start(): Promise<AgentOutcome> {
    return Promise.resolve({ status: 'failed', error: this.reason });
  }

  followUp(): Promise<AgentOutcome> {
    return this.start();
  }
}
