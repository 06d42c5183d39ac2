// DeepAgent conversations for the toolkit API: a toolkit sandbox session plus
// a thread of the same DeepAgent engine that runs use. As upstream, the
// conversation's id is its sandbox session's, and any session can be talked
// to. A message is one turn; its updates come back as the toolkit's chunks
// {tokens, messages, tool_events}.
import type { DeepAgentEngine } from '../agents/deepagent/deepAgentEngine';
import type { DeepAgentUpdate } from '../agents/deepagent/deepAgentStream';
import type { ConversationChunk, ToolkitSessionRequest } from '@astraforge/contract/toolkitApi';
import { AppError } from '../errors';
import type { RunTokens } from '../gateway/runTokens';
import type { ToolkitSessions } from './toolkitSessions';

export interface ConversationsOptions {
  sessions: ToolkitSessions;
  engine: DeepAgentEngine;
  tokens: RunTokens;
  model: string;
  /** Why the agent cannot run (no model provider), or undefined. */
  modelProblem: () => string | undefined;
  commandTimeoutMs: number;
}

export function chunkOf(u: DeepAgentUpdate): ConversationChunk {
  const chunk: ConversationChunk = { tokens: [], messages: [], tool_events: [] };
  switch (u.kind) {
    case 'token':
      chunk.tokens.push(u.text);
      break;
    case 'message':
      chunk.messages.push({ role: 'assistant', content: u.content });
      break;
    case 'tool_start':
      chunk.tool_events.push({ status: 'start', tool_name: u.name, tool_call_id: u.callId, arguments: u.args });
      break;
    case 'tool_result':
      chunk.tool_events.push({ status: 'result', tool_name: u.name, tool_call_id: u.callId, output: u.output });
      break;
    case 'todos':
      chunk.tool_events.push({ status: 'result', tool_name: 'write_todos', tool_call_id: '', output: JSON.stringify(u.items) });
      break;
  }
  return chunk;
}

export class Conversations {
  /** Conversations answering a message now: one turn at a time each. */
  private readonly busy = new Set<string>();

  constructor(private readonly opts: ConversationsOptions) {}

  async create(req: ToolkitSessionRequest) {
    const reason = this.opts.modelProblem();
    if (reason) throw new AppError('INVALID_REQUEST', `the DeepAgent is not available: ${reason}`);
    const { session } = await this.opts.sessions.create(req);
    return { conversation_id: session.id, sandbox_session_id: session.id, status: session.status };
  }

  /** Throws unless the conversation's session exists and no turn is running. */
  assertCanSend(id: string): void {
    try {
      this.opts.sessions.assertExists(id);
    } catch {
      throw new AppError('SESSION_NOT_FOUND', 'Sandbox session not found for this conversation');
    }
    if (this.busy.has(id)) throw new AppError('INVALID_REQUEST', `conversation "${id}" is still answering the previous message`);
  }

  /**
   * One turn with the last user message. `onChunk` sees each update as it
   * happens; the turn's chunks are also returned for non-streaming callers.
   */
  async send(id: string, content: string, signal: AbortSignal, onChunk: (c: ConversationChunk) => void): Promise<ConversationChunk[]> {
    this.assertCanSend(id);
    this.busy.add(id);
    // Tokens are keyed by conversation here, as by run elsewhere; each dies with its turn.
    const tokenKey = `conversation:${id}`;
    const chunks: ConversationChunk[] = [];
    try {
      // A stopped session starts again on its files, as for any call that needs its sandbox.
      const sessionId = await this.opts.sessions.ensureReady(id);
      const token = this.opts.tokens.issue(tokenKey);
      await this.opts.engine.turn({
        threadId: id,
        sessionId,
        message: content,
        token,
        model: this.opts.model,
        signal,
        commandTimeoutMs: () => this.opts.commandTimeoutMs,
        onUpdate: (u) => {
          const c = chunkOf(u);
          chunks.push(c);
          onChunk(c);
        },
      });
      return chunks;
    } finally {
      this.opts.tokens.revoke(tokenKey);
      this.busy.delete(id);
    }
  }
}
