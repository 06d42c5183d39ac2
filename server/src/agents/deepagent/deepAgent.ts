// The `deepagent` agent: a LangChain DeepAgent running in the server, every
// tool of it executing inside the run's sandbox, its model reached through
// the gateway. Its stream becomes the shared run-event vocabulary.
import { RunEventName, type FollowUpRequest } from '@astraforge/contract/runApi';
import type { SandboxAttachments } from '../../sandboxes/sandboxProvider';
import type { Agent, AgentContext, AgentEvent, AgentOutcome } from '../agent';
import { buildTaskPrompt } from '../prompts/taskPrompt';
import type { DeepAgentEngine } from './deepAgentEngine';
import type { DeepAgentUpdate } from './deepAgentStream';

export interface DeepAgentOptions {
  engine: DeepAgentEngine;
  modelProblem: () => string | undefined;
}

export function runEventOf(u: DeepAgentUpdate): AgentEvent {
  switch (u.kind) {
    case 'token':
      return { type: RunEventName.agentToken, data: { text: u.text } };
    case 'message':
      return { type: RunEventName.agentMessage, data: { text: u.content } };
    case 'tool_start':
      return { type: RunEventName.toolStarted, data: { call_id: u.callId, tool: u.name, args: u.args } };
    case 'tool_result':
      return {
        type: RunEventName.toolFinished,
        data: { call_id: u.callId, tool: u.name, output: u.output, status: u.isError ? 'failed' : 'completed' },
      };
    case 'todos':
      return {
        type: RunEventName.todoUpdated,
        data: { items: u.items.map((i) => ({ text: i.text, done: i.status === 'completed', status: i.status })) },
      };
  }
}

export class DeepAgent implements Agent {
  readonly name = 'deepagent' as const;
  readonly usesModel = true;

  constructor(private readonly opts: DeepAgentOptions) {}

  unavailableReason(): string | undefined {
    return this.opts.modelProblem();
  }

  /** The agent runs in the server and reaches the gateway directly; the sandbox needs nothing extra. */
  sandboxAttachments(): SandboxAttachments {
    return {};
  }

  async start(ctx: AgentContext): Promise<AgentOutcome> {
    const prompt = await buildTaskPrompt(ctx.task, ctx.workspace);
    ctx.emit(RunEventName.agentPrompt, { text: prompt });
    return this.turn(ctx, prompt);
  }

  followUp(ctx: AgentContext, req: FollowUpRequest): Promise<AgentOutcome> {
    return this.turn(ctx, req.message ?? req.command ?? '');
  }

  private async turn(ctx: AgentContext, message: string): Promise<AgentOutcome> {
    const model = ctx.model;
    if (!model) return { status: 'failed', error: 'the DeepAgent needs the model gateway' };
    try {
      await this.opts.engine.turn({
        threadId: ctx.runId,
        sessionId: ctx.sessionId,
        message,
        token: model.token,
        model: model.model,
        signal: ctx.signal,
        commandTimeoutMs: () => ctx.remainingMs(),
        onUpdate: (u) => {
          const ev = runEventOf(u);
          ctx.emit(ev.type, ev.data);
        },
        onCommandOutput: (text) => ctx.emit(RunEventName.toolOutput, { text }),
      });
      return { status: 'succeeded' };
    } catch (e) {
      if (ctx.signal.aborted) return { status: 'failed', error: 'cancelled' };
      return { status: 'failed', error: `DeepAgent: ${(e as Error).message}` };
    }
  }
}
