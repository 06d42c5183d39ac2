// Turns LangGraph's stream of a DeepAgent ("messages" and "updates" modes)
// into plain updates: token, message, tool start and result, todos. Runs
// turn them into run events, the toolkit API into its chunks.

export type DeepAgentUpdate =
  | { kind: 'token'; text: string }
  | { kind: 'message'; role: 'assistant'; content: string }
  | { kind: 'tool_start'; callId: string; name: string; args: unknown }
  | { kind: 'tool_result'; callId: string; name: string; output: string; isError: boolean }
  | { kind: 'todos'; items: { text: string; status: string }[] };

interface MessageLike {
  type?: string;
  content?: unknown;
  tool_calls?: { id?: string; name: string; args: unknown }[];
  tool_call_id?: string;
  name?: string;
  status?: string;
  _getType?: () => string;
}

const MAX_TOOL_OUTPUT = 64 * 1024;

/** Message content is a string or a list of parts; the text is what a reader wants. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((p) => (typeof p === 'string' ? p : p && typeof p === 'object' && 'text' in p ? String((p as { text: unknown }).text) : ''))
      .join('');
  return '';
}

function typeOf(m: MessageLike): string | undefined {
  return m.type ?? m._getType?.();
}

/** One item of the "messages" stream mode: a message chunk and its metadata. */
export function fromMessageChunk(chunk: unknown): DeepAgentUpdate[] {
  const [message] = Array.isArray(chunk) ? (chunk as [MessageLike, unknown]) : [chunk as MessageLike];
  if (!message) return [];
  const t = typeOf(message);
  if (t !== 'ai' && t !== 'AIMessageChunk') return [];
  const text = textOf(message.content);
  return text ? [{ kind: 'token', text }] : [];
}

/** One item of the "updates" stream mode: { node: stateUpdate }. */
export function fromStateUpdate(update: unknown): DeepAgentUpdate[] {
  if (!update || typeof update !== 'object') return [];
  const out: DeepAgentUpdate[] = [];
  // A node's update is one state patch, or several when its tools returned commands.
  const patches = Object.values(update as Record<string, unknown>).flatMap((v) => (Array.isArray(v) ? v : [v]));
  for (const value of patches) {
    if (!value || typeof value !== 'object') continue;
    const state = value as { messages?: unknown; todos?: unknown };
    const messages = Array.isArray(state.messages) ? (state.messages as MessageLike[]) : [];
    for (const m of messages) out.push(...fromMessage(m));
    if (Array.isArray(state.todos)) {
      const items = (state.todos as { content?: string; status?: string }[]).map((t) => ({
        text: t.content ?? '',
        status: t.status ?? 'pending',
      }));
      out.push({ kind: 'todos', items });
    }
  }
  return out;
}

function fromMessage(m: MessageLike): DeepAgentUpdate[] {
  const t = typeOf(m);
  if (t === 'ai') {
    const out: DeepAgentUpdate[] = [];
    const content = textOf(m.content);
    if (content) out.push({ kind: 'message', role: 'assistant', content });
    for (const call of m.tool_calls ?? []) out.push({ kind: 'tool_start', callId: call.id ?? '', name: call.name, args: call.args });
    return out;
  }
  if (t === 'tool') {
    const output = textOf(m.content);
    return [
      {
        kind: 'tool_result',
        callId: m.tool_call_id ?? '',
        name: m.name ?? '',
        output: output.length > MAX_TOOL_OUTPUT ? `${output.slice(0, MAX_TOOL_OUTPUT)}\n[... more output left out]` : output,
        isError: m.status === 'error',
      },
    ];
  }
  return [];
}
