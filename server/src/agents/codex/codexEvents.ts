// Codex's `exec --json` lines, translated into run events. The run's event
// vocabulary is shared by every agent (agent.message, tool.started,
// tool.finished, file.changed, todo.updated, agent.error, ...), so the
// sidebar renders Codex and DeepAgent runs alike.

export interface TranslatedEvent {
  type: string;
  data: Record<string, unknown>;
}

export interface CodexTurnState {
  threadId?: string;
  /** Set when Codex reports that the turn failed. */
  failure?: string;
}

type Item = Record<string, unknown> & { id?: string; type?: string };

const MAX_TOOL_OUTPUT = 64 * 1024;

function clip(text: unknown): string {
  const s = typeof text === 'string' ? text : '';
  return s.length <= MAX_TOOL_OUTPUT ? s : `${s.slice(0, MAX_TOOL_OUTPUT)}\n[... ${s.length - MAX_TOOL_OUTPUT} more characters]`;
}

function itemEvents(phase: 'started' | 'updated' | 'completed', item: Item): TranslatedEvent[] {
  const id = item.id;
  switch (item.type) {
    case 'agent_message':
      return phase === 'completed' ? [{ type: 'agent.message', data: { item_id: id, text: item.text ?? '' } }] : [];
    case 'reasoning':
      return phase === 'completed' ? [{ type: 'agent.reasoning', data: { item_id: id, text: item.text ?? '' } }] : [];
    case 'command_execution':
      if (phase === 'started') return [{ type: 'tool.started', data: { call_id: id, tool: 'shell', command: item.command } }];
      if (phase === 'completed')
        return [
          {
            type: 'tool.finished',
            data: {
              call_id: id,
              tool: 'shell',
              command: item.command,
              output: clip(item.aggregated_output),
              exit_code: item.exit_code,
              status: item.status,
            },
          },
        ];
      return [];
    case 'file_change':
      return phase === 'completed'
        ? [{ type: 'file.changed', data: { item_id: id, changes: item.changes ?? [], status: item.status } }]
        : [];
    case 'mcp_tool_call':
      if (phase === 'started')
        return [{ type: 'tool.started', data: { call_id: id, tool: `${item.server}.${item.tool}`, args: item.arguments } }];
      if (phase === 'completed')
        return [
          {
            type: 'tool.finished',
            data: {
              call_id: id,
              tool: `${item.server}.${item.tool}`,
              output: clip(JSON.stringify(item.result ?? item.error ?? null)),
              status: item.status,
            },
          },
        ];
      return [];
    case 'web_search':
      return phase === 'started' ? [{ type: 'tool.started', data: { call_id: id, tool: 'web_search', args: { query: item.query } } }] : [];
    case 'todo_list': {
      const items = Array.isArray(item.items) ? (item.items as { text?: string; completed?: boolean }[]) : [];
      return [{ type: 'todo.updated', data: { items: items.map((t) => ({ text: t.text ?? '', done: t.completed === true })) } }];
    }
    case 'error':
      return phase === 'completed' ? [{ type: 'agent.error', data: { message: item.message ?? 'error', fatal: false } }] : [];
    default:
      return phase === 'completed' ? [{ type: 'agent.item', data: { item } }] : [];
  }
}

/** Translates one line of Codex output; lines that are not JSON events come back as agent.log. */
export function translateCodexLine(line: string, state: CodexTurnState): TranslatedEvent[] {
  const trimmed = line.trim();
  if (!trimmed) return [];
  let ev: Record<string, unknown>;
  try {
    ev = JSON.parse(trimmed) as Record<string, unknown>;
  } catch {
    return [{ type: 'agent.log', data: { text: trimmed } }];
  }
  switch (ev.type) {
    case 'thread.started':
      state.threadId = String(ev.thread_id ?? '');
      return [{ type: 'agent.thread', data: { thread_id: state.threadId } }];
    case 'turn.started':
      return [{ type: 'agent.turn', data: { phase: 'started' } }];
    case 'turn.completed':
      return [{ type: 'agent.turn', data: { phase: 'completed', usage: ev.usage } }];
    case 'turn.failed': {
      const message = String((ev.error as { message?: string } | undefined)?.message ?? 'the turn failed');
      state.failure = message;
      return [{ type: 'agent.error', data: { message, fatal: true } }];
    }
    case 'error':
      return [{ type: 'agent.error', data: { message: String(ev.message ?? 'error'), fatal: false } }];
    case 'item.started':
    case 'item.updated':
    case 'item.completed':
      return itemEvents(String(ev.type).slice('item.'.length) as 'started' | 'updated' | 'completed', (ev.item ?? {}) as Item);
    default:
      return [{ type: 'agent.item', data: { event: ev } }];
  }
}

/** Splits a stream of text into whole lines, holding a partial last line until it completes. */
export class LineSplitter {
  private rest = '';

  push(text: string, onLine: (line: string) => void): void {
    const parts = (this.rest + text).split('\n');
    this.rest = parts.pop() ?? '';
    for (const p of parts) onLine(p);
  }

  flush(onLine: (line: string) => void): void {
    if (this.rest) onLine(this.rest);
    this.rest = '';
  }
}
