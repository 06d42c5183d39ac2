// The `command` agent: no model, just a shell command (a formatter, a
// codemod, `npm audit fix`) run in the sandboxed copy of the workspace.
import type { FollowUpRequest } from '@astraforge/contract/runApi';
import type { SandboxAttachments } from '../sandboxes/sandboxProvider';
import type { Agent, AgentContext, AgentOutcome } from './agent';

export class CommandAgent implements Agent {
  readonly name = 'command' as const;
  readonly usesModel = false;

  sandboxAttachments(): SandboxAttachments {
    return {};
  }

  unavailableReason(): string | undefined {
    return undefined;
  }

  start(ctx: AgentContext): Promise<AgentOutcome> {
    if (!ctx.task.command) return Promise.resolve({ status: 'failed', error: 'the command agent needs task.command' });
    return this.run(ctx, ctx.task.command);
  }

  followUp(ctx: AgentContext, req: FollowUpRequest): Promise<AgentOutcome> {
    const command = req.command ?? req.message;
    if (!command) return Promise.resolve({ status: 'failed', error: 'the command agent needs a command' });
    return this.run(ctx, command);
  }

  private async run(ctx: AgentContext, command: string): Promise<AgentOutcome> {
    const out = await ctx.runCommand(command);
    if (out.cancelled) return { status: 'failed', error: 'cancelled' };
    if (out.timedOut) return { status: 'failed', error: "the command ran out of the run's time" };
    return out.exitCode === 0 ? { status: 'succeeded' } : { status: 'failed', error: `the command exited with ${out.exitCode}` };
  }
}
