// Codex's `exec --json` lines, translated into run events. The run's event
// vocabulary (server/contract/runEvents.ts) is shared by every agent (its
// messages, tools, file changes, plans, errors and warnings), so the sidebar
// renders Codex and DeepAgent runs alike. Codex runs inside the
// sandbox, so its lines are checked here, where they cross into the server:
// each field becomes what the event's schema says, or is left out.
import { RunEventName } from '@astraforge/contract/runApi';
import type { AgentEvent } from '../agent';

export interface CodexTurnState {
  threadId?: string;
  /** Set when Codex reports that the turn failed. */
  failure?: string;
}

type Item = Record<string, unknown>;

const MAX_TOOL_OUTPUT = 64 * 1024;

function clip(text: unknown): string {
  const s = textOf(text);
  return s.length <= MAX_TOOL_OUTPUT ? s : `${s.slice(0, MAX_TOOL_OUTPUT)}\n[... ${s.length - MAX_TOOL_OUTPUT} more characters]`;
}

function textOf(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function optionalText(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function optionalInt(v: unknown): number | undefined {
  return Number.isInteger(v) ? (v as number) : undefined;
}

function objectOf(v: unknown): Item {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Item) : {};
}

/** Codex's token counts, the numbers only. */
function usageOf(v: unknown): Record<string, number> | undefined {
  if (!v || typeof v !== 'object') return undefined;
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, number] => typeof e[1] === 'number'));
}

function itemEvents(phase: 'started' | 'updated' | 'completed', item: Item): AgentEvent[] {
  const id = optionalText(item.id);
  switch (item.type) {
    case 'agent_message':
      return phase === 'completed' ? [{ type: RunEventName.agentMessage, data: { item_id: id, text: textOf(item.text) } }] : [];
    case 'reasoning':
      return phase === 'completed' ? [{ type: RunEventName.agentReasoning, data: { item_id: id, text: textOf(item.text) } }] : [];
    case 'command_execution': {
      const command = optionalText(item.command);
      if (phase === 'started') return [{ type: RunEventName.toolStarted, data: { call_id: id ?? '', tool: 'shell', command } }];
      if (phase === 'completed')
        return [
          {
            type: RunEventName.toolFinished,
            data: {
              call_id: id ?? '',
              tool: 'shell',
              command,
              output: clip(item.aggregated_output),
              exit_code: optionalInt(item.exit_code),
              status: optionalText(item.status),
            },
          },
        ];
      return [];
    }
    case 'file_change': {
      if (phase !== 'completed') return [];
      const changes = (Array.isArray(item.changes) ? item.changes : [])
        .map(objectOf)
        .map((c) => ({ path: textOf(c.path), kind: textOf(c.kind) }));
      return [{ type: RunEventName.fileChanged, data: { item_id: id, changes, status: optionalText(item.status) } }];
    }
    case 'mcp_tool_call': {
      const tool = `${textOf(item.server)}.${textOf(item.tool)}`;
      if (phase === 'started') return [{ type: RunEventName.toolStarted, data: { call_id: id ?? '', tool, args: item.arguments } }];
      if (phase === 'completed')
        return [
          {
            type: RunEventName.toolFinished,
            data: {
              call_id: id ?? '',
              tool,
              output: clip(JSON.stringify(item.result ?? item.error ?? null)),
              status: optionalText(item.status),
            },
          },
        ];
      return [];
    }
    case 'web_search':
      return phase === 'started'
        ? [{ type: RunEventName.toolStarted, data: { call_id: id ?? '', tool: 'web_search', args: { query: item.query } } }]
        : [];
    case 'todo_list': {
      const items = (Array.isArray(item.items) ? item.items : []).map(objectOf);
      return [
        { type: RunEventName.todoUpdated, data: { items: items.map((t) => ({ text: textOf(t.text), done: t.completed === true })) } },
      ];
    }
    // Codex's warnings come as items of type "error" (its own errors are the
    // top-level "error" event and turn.failed): an unknown model's missing
    // metadata, a configuration it ignored, a model rerouted. The turn goes on.
    case 'error':
      return phase === 'completed'
        ? [{ type: RunEventName.agentWarning, data: { item_id: id, message: optionalText(item.message) ?? 'warning' } }]
        : [];
    default:
      return phase === 'completed' ? [{ type: RunEventName.agentItem, data: { item } }] : [];
  }
}

/** Translates one line of Codex output; lines that are not JSON events come back as log events. */
export function translateCodexLine(line: string, state: CodexTurnState): AgentEvent[] {
  const trimmed = line.trim();
  if (!trimmed) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return [{ type: RunEventName.agentLog, data: { text: trimmed } }];
  }
  const ev = objectOf(parsed);
  switch (ev.type) {
    case 'thread.started':
      state.threadId = String(ev.thread_id ?? '');
      return [{ type: RunEventName.agentThread, data: { thread_id: state.threadId } }];
    case 'turn.started':
      return [{ type: RunEventName.agentTurn, data: { phase: 'started' } }];
    case 'turn.completed':
      return [{ type: RunEventName.agentTurn, data: { phase: 'completed', usage: usageOf(ev.usage) } }];
    case 'turn.failed': {
      const message = String(objectOf(ev.error).message ?? 'the turn failed');
      state.failure = message;
      return [{ type: RunEventName.agentError, data: { message, fatal: true } }];
    }
    case 'error':
      return [{ type: RunEventName.agentError, data: { message: String(ev.message ?? 'error'), fatal: false } }];
    case 'item.started':
    case 'item.updated':
    case 'item.completed':
      return itemEvents(String(ev.type).slice('item.'.length) as 'started' | 'updated' | 'completed', objectOf(ev.item));
    default:
      return [{ type: RunEventName.agentItem, data: { event: ev } }];
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
