// Runs DeepAgent turns: a LangChain DeepAgent (npm `deepagents`) whose chat
// model talks to the model gateway over its unix socket with a turn token,
// whose backend is the session's sandbox, and whose conversation is a thread
// kept by a checkpointer, so a follow-up continues where the last turn ended.
// Runs and the toolkit's conversations share this one engine.
import { ChatOpenAI } from '@langchain/openai';
import { MemorySaver } from '@langchain/langgraph';
import { createDeepAgent } from 'deepagents';
import { todoListMiddleware } from 'langchain';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import type { SessionManager } from '../../sessions/sessionManager';
import { fromMessageChunk, fromStateUpdate, type DeepAgentUpdate } from './deepAgentStream';
import { SessionSandbox } from './sessionSandbox';

export interface DeepAgentTurn {
  threadId: string;
  sessionId: string;
  message: string;
  /** The gateway token for this turn. */
  token: string;
  model: string;
  signal: AbortSignal;
  /** Time each sandbox command may take. */
  commandTimeoutMs: () => number;
  onUpdate: (u: DeepAgentUpdate) => void;
  onCommandOutput?: (text: string) => void;
}

export interface DeepAgentEngineOptions {
  sessions: SessionManager;
  /** The gateway's unix socket. */
  gatewaySocket: string;
  /** Model-and-tool steps one turn may take before it stops. */
  recursionLimit?: number;
}

const SYSTEM_PROMPT = `You are a coding agent working on a copy of the user's project in /workspace, inside a sandbox with no network.
Use the filesystem tools with absolute paths under /workspace, and the execute tool to run commands there (builds, tests, formatters).
Keep changes focused on the task, run the relevant checks, and finish with a short summary of what you changed.`;

export class DeepAgentEngine {
  private readonly checkpointer = new MemorySaver();
  private readonly dispatcher: UndiciAgent;

  constructor(private readonly opts: DeepAgentEngineOptions) {
    this.dispatcher = new UndiciAgent({ connect: { socketPath: opts.gatewaySocket } });
  }

  /** One turn; resolves with the assistant's last message once the agent stops. */
  async turn(t: DeepAgentTurn): Promise<{ finalText: string }> {
    const dispatcher = this.dispatcher;
    const model = new ChatOpenAI({
      model: t.model,
      apiKey: t.token,
      streaming: true,
      streamUsage: true,
      maxRetries: 1,
      configuration: {
        // The host name is a placeholder: every request goes down the gateway's socket.
        baseURL: 'http://astraforge-gateway/v1',
        fetch: ((url: string, init?: object) => undiciFetch(url, { ...init, dispatcher })) as unknown as typeof fetch,
      },
    });
    const backend = new SessionSandbox({
      sessions: this.opts.sessions,
      sessionId: t.sessionId,
      timeoutMs: t.commandTimeoutMs,
      signal: t.signal,
      onOutput: t.onCommandOutput,
    });
    // The todo list lets the user follow the agent's plan as it works through it.
    const agent = createDeepAgent({
      model,
      backend,
      systemPrompt: SYSTEM_PROMPT,
      checkpointer: this.checkpointer,
      middleware: [todoListMiddleware()],
    });
    let finalText = '';
    const stream = await agent.stream(
      { messages: [{ role: 'user', content: t.message }] },
      {
        configurable: { thread_id: t.threadId },
        streamMode: ['messages', 'updates'],
        signal: t.signal,
        recursionLimit: this.opts.recursionLimit ?? 200,
      },
    );
    for await (const item of stream as AsyncIterable<[string, unknown]>) {
      const [mode, chunk] = item;
      const updates = mode === 'messages' ? fromMessageChunk(chunk) : mode === 'updates' ? fromStateUpdate(chunk) : [];
      for (const u of updates) {
        if (u.kind === 'message') finalText = u.content;
        t.onUpdate(u);
      }
    }
    return { finalText };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
