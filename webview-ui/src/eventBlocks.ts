// What each run event does to the transcript: one handler per event type, in
// a map whose type lists every type of the contract, so a new event type does
// not compile here until it has a handler (one that shows nothing, if need be).
import { RunEventName, type RunEvent, type RunEventOf, type RunEventType } from '@astraforge/contract/runApi';
import type { Block, Blocks } from './blocks';
import { changeLetter, firstWords, formatBytes, formatDuration, textLines, toolTitle } from './blockText';

/** The blocks that later events add to, rather than starting their own. */
export interface OpenBlocks {
  /** The running command, which its output and end go to. */
  command?: Block;
  /** The tool call whose output streams. */
  tool?: Block;
  /** Tool calls by call id, for their results. */
  readonly byCallId: Map<string, Block>;
  /** The message being streamed token by token, which the whole message replaces. */
  message?: Block;
  /** The plan, updated in place. */
  todos?: Block;
  /** Agent output that is not an event, gathered in one block. */
  log?: Block;
  /** The environment's setup, which its output and end go to. */
  setup?: Block;
}

export interface TranscriptState {
  readonly blocks: Blocks;
  readonly open: OpenBlocks;
}

/** Applies one event of type K; returns whether the transcript changed. */
type Handler<K extends RunEventType> = (t: TranscriptState, e: RunEventOf<K>) => boolean;

const showsNothing = (): boolean => false;

const HANDLERS: { readonly [K in RunEventType]: Handler<K> } = {
  [RunEventName.runCreated]: ({ blocks }, e) => {
    const b = blocks.add('user', e.task.kind === 'error' ? 'Error to fix' : 'Task', textLines(e.task.prompt));
    if (e.task.command) b.lines.push(`$ ${e.task.command}`);
    return true;
  },
  // The run's status shows in the header, which the extension keeps up to date.
  [RunEventName.runStatus]: showsNothing,
  [RunEventName.sandboxReady]: ({ blocks }) => {
    blocks.add('info', 'Sandbox ready', []);
    return true;
  },
  [RunEventName.runFollowup]: ({ blocks }, e) => {
    const lines = textLines(e.message ?? '');
    if (e.command) lines.push(`$ ${e.command}`);
    blocks.add('user', 'Follow-up', lines);
    return true;
  },
  [RunEventName.runFinished]: ({ blocks, open }, e) => {
    open.message = undefined;
    blocks.add('finished', `Run ${e.status}`, e.error ? textLines(e.error) : [], { state: e.status === 'succeeded' ? 'ok' : 'failed' });
    return true;
  },

  [RunEventName.environmentSetupStarted]: ({ blocks, open }, e) => {
    open.setup = blocks.add('command', 'Preparing environment…', [`$ ${e.command}`], { collapsed: false, state: 'running' });
    open.setup.detail = e.source;
    return true;
  },
  [RunEventName.environmentSetupOutput]: ({ blocks, open }, e) => {
    const target = open.setup ?? (open.setup = blocks.add('command', 'Preparing environment…', [], { collapsed: false }));
    blocks.appendOutput(target, e.text, e.stream === 'stderr');
    return true;
  },
  [RunEventName.environmentSetupFinished]: ({ blocks, open }, e) => {
    const b = open.setup;
    if (!b) return false;
    open.setup = undefined;
    b.open = false;
    b.state = e.exit_code === 0 ? 'ok' : 'failed';
    b.title = e.exit_code === 0 ? 'Environment set up' : 'Environment setup failed';
    b.detail = `${e.timed_out ? 'timed out' : `exit ${e.exit_code}`} · ${formatDuration(e.duration_ms)}`;
    blocks.changed(b);
    return true;
  },
  [RunEventName.environmentReady]: ({ blocks }, e) => {
    const title = e.cached ? 'Environment ready (cached)' : 'Environment ready';
    blocks.add('info', title, [`${e.source} · ${formatBytes(e.bytes)} · key ${e.key.slice(0, 12)}`]);
    return true;
  },

  [RunEventName.commandStarted]: ({ blocks, open }, e) => {
    open.command = blocks.add('command', `$ ${e.command}`, [], { collapsed: false, state: 'running' });
    return true;
  },
  [RunEventName.commandOutput]: ({ blocks, open }, e) => {
    const target = open.command ?? (open.command = blocks.add('command', 'Output', [], { collapsed: false }));
    blocks.appendOutput(target, e.text, e.stream === 'stderr');
    return true;
  },
  [RunEventName.commandFinished]: ({ blocks, open }, e) => {
    const b = open.command;
    if (!b) return false;
    open.command = undefined;
    b.open = false;
    b.state = e.exit_code === 0 ? 'ok' : 'failed';
    const ending = e.timed_out ? 'timed out' : e.cancelled ? 'cancelled' : `exit ${e.exit_code}`;
    b.detail = `${ending} · ${formatDuration(e.duration_ms)}`;
    if (e.truncated) b.lines.push('… output truncated');
    blocks.changed(b);
    return true;
  },

  [RunEventName.agentPrompt]: ({ blocks }, e) => {
    blocks.add('prompt', 'Prompt sent to the agent', textLines(e.text), { collapsed: true });
    return true;
  },
  [RunEventName.agentThread]: showsNothing,
  [RunEventName.agentTurn]: showsNothing,
  [RunEventName.agentToken]: ({ blocks, open }, e) => {
    const b = open.message ?? (open.message = blocks.add('message', 'Agent', [''], { streaming: true }));
    blocks.appendText(b, e.text);
    return true;
  },
  [RunEventName.agentMessage]: ({ blocks, open }, e) => {
    const b = open.message;
    open.message = undefined;
    if (b) {
      b.lines = textLines(e.text);
      b.streaming = false;
      blocks.changed(b);
    } else blocks.add('message', 'Agent', textLines(e.text));
    return true;
  },
  [RunEventName.agentReasoning]: ({ blocks }, e) => {
    const lines = textLines(e.text);
    blocks.add('reasoning', `Thinking: ${firstWords(lines[0] ?? '')}`, lines, { collapsed: true });
    return true;
  },
  [RunEventName.agentError]: ({ blocks }, e) => {
    blocks.add('error', e.fatal ? 'The agent failed' : 'Agent error', textLines(e.message));
    return true;
  },
  [RunEventName.agentWarning]: ({ blocks }, e) => {
    blocks.add('info', 'Agent warning', textLines(e.message));
    return true;
  },
  [RunEventName.agentLog]: ({ blocks, open }, e) => {
    const b = open.log ?? (open.log = blocks.add('log', 'Agent log', [], { collapsed: true }));
    b.lines.push(e.text);
    b.title = `Agent log (${b.lines.length} ${b.lines.length === 1 ? 'line' : 'lines'})`;
    blocks.changed(b);
    return true;
  },
  [RunEventName.agentItem]: showsNothing,

  [RunEventName.toolStarted]: ({ blocks, open }, e) => {
    open.message = undefined;
    const b = blocks.add('tool', toolTitle(e.tool, e.command, e.args), [], {
      collapsed: true,
      state: 'running',
      callId: e.call_id || undefined,
    });
    if (b.callId) open.byCallId.set(b.callId, b);
    open.tool = b;
    return true;
  },
  [RunEventName.toolOutput]: ({ blocks, open }, e) => {
    if (!open.tool) return false;
    blocks.appendOutput(open.tool, e.text, false);
    return true;
  },
  [RunEventName.toolFinished]: ({ blocks, open }, e) => {
    const b = open.byCallId.get(e.call_id) ?? blocks.add('tool', toolTitle(e.tool, e.command, undefined), [], { collapsed: true });
    if (open.tool === b) open.tool = undefined;
    b.open = false;
    // Streamed output already fills the block; otherwise the result carries it.
    if (b.lines.length === 0 || (b.lines.length === 1 && b.lines[0] === '')) b.lines = textLines(e.output);
    const failed = e.status === 'failed' || (e.exit_code !== undefined && e.exit_code !== 0);
    b.state = failed ? 'failed' : 'ok';
    if (e.exit_code !== undefined) b.detail = `exit ${e.exit_code}`;
    blocks.changed(b);
    return true;
  },
  [RunEventName.fileChanged]: ({ blocks }, e) => {
    const n = e.changes.length;
    blocks.add(
      'files',
      n === 1 ? 'Changed a file' : `Changed ${n} files`,
      e.changes.map((c) => `${changeLetter(c.kind)} ${c.path}`),
    );
    return true;
  },
  [RunEventName.todoUpdated]: ({ blocks, open }, e) => {
    const lines = e.items.map((t) => `${t.done ? '☑' : t.status === 'in_progress' ? '◐' : '☐'} ${t.text}`);
    const title = `Plan (${e.items.filter((t) => t.done).length}/${e.items.length} done)`;
    if (open.todos) {
      open.todos.lines = lines;
      open.todos.title = title;
      blocks.changed(open.todos);
    } else open.todos = blocks.add('todos', title, lines, { collapsed: false });
    return true;
  },

  [RunEventName.modelCall]: ({ blocks }, e) => {
    if (!e.error) return false;
    blocks.add('error', `Model call failed (${e.status})`, textLines(e.error));
    return true;
  },
  // Each host once, when the sandbox first reached it; every refusal, with the rule that made it.
  [RunEventName.networkAllowed]: ({ blocks }, e) => {
    blocks.add('info', `Network: reached ${e.host}:${e.port}`, [], { detail: e.rule });
    return true;
  },
  [RunEventName.networkBlocked]: ({ blocks }, e) => {
    blocks.add('error', `Network blocked: ${e.host}:${e.port}`, textLines(e.reason), { detail: e.rule });
    return true;
  },
  [RunEventName.diffReady]: ({ blocks }, e) => {
    const n = e.files;
    blocks.add('info', n === 0 ? 'No changes to review' : `${n} ${n === 1 ? 'file' : 'files'} changed, ready for review`, []);
    return true;
  },
  [RunEventName.diffFailed]: ({ blocks }, e) => {
    blocks.add('error', 'Could not compute the diff', textLines(e.error));
    return true;
  },
  [RunEventName.outputCollapsed]: ({ blocks }, e) => {
    blocks.add('info', `${e.events} earlier output events (${formatBytes(e.bytes)}) were dropped to keep the log small`, []);
    return true;
  },
};

/** Applies one event to the transcript's blocks; returns whether anything changed. */
export function applyEvent(target: TranscriptState, e: RunEvent): boolean {
  // The map's type ties each type to its handler; TypeScript cannot follow
  // that through an indexed call on a union (microsoft/TypeScript#30581).
  const handler = HANDLERS[e.type] as Handler<RunEventType>;
  return handler(target, e);
}
