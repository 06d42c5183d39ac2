// The run's transcript as the sidebar shows it, built from the run's events.
// Pure and DOM-free so it can be unit-tested and so 100,000 lines cost only
// what they must: events append to blocks, and the view asks for the rows
// in its viewport, found by binary search over per-block row counts.

/** One event as the server sends it: seq, type, ts and the type's own fields. */
export interface TranscriptEvent {
  seq: number;
  type: string;
  ts: string;
  [key: string]: unknown;
}

export type BlockKind =
  | 'user' // the task or a follow-up
  | 'prompt' // the prompt the server built for the agent
  | 'message' // the agent's words
  | 'reasoning'
  | 'command' // a command the run executed (command agent)
  | 'tool' // a tool call by the agent, with its output
  | 'todos'
  | 'files'
  | 'log' // agent output that is not an event (collapsed)
  | 'info'
  | 'error'
  | 'finished';

export type BlockState = 'running' | 'ok' | 'failed' | undefined;

export interface Block {
  id: number;
  kind: BlockKind;
  title: string;
  /** Logical lines; the last one may still be growing (see `open`). */
  lines: string[];
  /** Per-line flag: written to stderr. Only allocated when a line is. */
  stderr?: boolean[];
  collapsible: boolean;
  collapsed: boolean;
  state?: BlockState;
  /** A one-word summary shown at the header's end: an exit code, a duration. */
  detail?: string;
  /** The last line is partial: output without its newline yet. */
  open: boolean;
  /** For tool calls: the call id that its result will name. */
  callId?: string;
  /** For messages built from streamed tokens: replaced by the final message. */
  streaming?: boolean;
}

/** A row on screen: a block's header (line -1) or one of its (wrapped) lines. */
export interface Row {
  block: Block;
  /** -1 for the header. */
  line: number;
  /** The text of this row (one wrapped segment of the line). */
  text: string;
  stderr: boolean;
}

/** Blocks whose lines wrap to the view's width; the others scroll sideways (output keeps its columns). */
const WRAPPED: ReadonlySet<BlockKind> = new Set(['user', 'message', 'reasoning', 'info', 'error', 'finished', 'todos', 'files']);

export class Transcript {
  readonly blocks: Block[] = [];
  /** The highest seq applied; events at or below it are duplicates and ignored. */
  lastSeq = 0;
  private nextId = 1;
  private wrapColumns = 80;
  /** rowStart[i] is the first row of blocks[i]; valid up to `validUpTo`. */
  private rowStart: number[] = [];
  private rowCounts: number[] = [];
  private validUpTo = 0;
  private totalRows = 0;
  /** Wrapped segments of the lines of wrapped blocks, by block id (cheap: those blocks are small). */
  private readonly wrapCache = new Map<number, { version: string; segments: { text: string; line: number }[] }>();
  private readonly byCallId = new Map<string, Block>();
  private currentCommand?: Block;
  private currentTool?: Block;
  private streamingMessage?: Block;
  private todos?: Block;
  private logBlock?: Block;

  /** Applies events in order; returns whether anything changed. Duplicates (seq already seen) are skipped. */
  apply(events: readonly TranscriptEvent[]): boolean {
    let changed = false;
    for (const e of events) {
      if (e.seq <= this.lastSeq) continue;
      this.lastSeq = e.seq;
      if (this.applyOne(e)) changed = true;
    }
    return changed;
  }

  /** Sets the width in characters that wrapped blocks fit to; returns whether it changed. */
  setWrapColumns(columns: number): boolean {
    const c = Math.max(20, Math.floor(columns));
    if (c === this.wrapColumns) return false;
    this.wrapColumns = c;
    this.wrapCache.clear();
    this.invalidate(0);
    return true;
  }

  toggle(blockId: number): boolean {
    const i = this.blocks.findIndex((b) => b.id === blockId);
    if (i < 0 || !this.blocks[i].collapsible) return false;
    this.blocks[i].collapsed = !this.blocks[i].collapsed;
    this.invalidate(i);
    return true;
  }

  get rowCount(): number {
    this.recount();
    return this.totalRows;
  }

  /** The rows from `start` (inclusive) to `end` (exclusive). */
  rowsInRange(start: number, end: number): Row[] {
    this.recount();
    const rows: Row[] = [];
    const last = Math.min(end, this.totalRows);
    if (start >= last) return rows;
    let bi = this.blockAtRow(Math.max(0, start));
    let r = Math.max(0, start);
    while (r < last && bi < this.blocks.length) {
      const block = this.blocks[bi];
      const offset = r - this.rowStart[bi];
      const count = this.rowCounts[bi];
      for (let k = offset; k < count && r < last; k++, r++) rows.push(this.rowOf(block, k));
      bi++;
    }
    return rows;
  }

  /** The row where a block's header is, for keyboard navigation and tests. */
  rowOfBlock(blockId: number): number {
    this.recount();
    const i = this.blocks.findIndex((b) => b.id === blockId);
    return i < 0 ? -1 : this.rowStart[i];
  }

  // --- events to blocks ---

  private applyOne(e: TranscriptEvent): boolean {
    const str = (k: string): string => (typeof e[k] === 'string' ? (e[k] as string) : '');
    switch (e.type) {
      case 'run.created': {
        const task = (e.task ?? {}) as { prompt?: string; command?: string; kind?: string };
        const b = this.add('user', task.kind === 'error' ? 'Error to fix' : 'Task', textLines(task.prompt ?? ''));
        if (task.command) b.lines.push(`$ ${task.command}`);
        return true;
      }
      case 'run.followup': {
        const lines = textLines(str('message'));
        if (str('command')) lines.push(`$ ${str('command')}`);
        this.add('user', 'Follow-up', lines);
        return true;
      }
      case 'agent.prompt':
        this.add('prompt', 'Prompt sent to the agent', textLines(str('text')), { collapsed: true });
        return true;
      case 'sandbox.ready':
        this.add('info', 'Sandbox ready', []);
        return true;
      case 'command.started':
        this.currentCommand = this.add('command', `$ ${str('command')}`, [], { collapsed: false, state: 'running' });
        return true;
      case 'command.output': {
        const target = this.currentCommand ?? (this.currentCommand = this.add('command', 'Output', [], { collapsed: false }));
        this.appendOutput(target, str('text'), e.stream === 'stderr');
        return true;
      }
      case 'command.finished': {
        const b = this.currentCommand;
        if (!b) return false;
        this.currentCommand = undefined;
        b.open = false;
        const exit = typeof e.exit_code === 'number' ? e.exit_code : undefined;
        b.state = exit === 0 ? 'ok' : 'failed';
        b.detail = e.timed_out ? 'timed out' : e.cancelled ? 'cancelled' : exit === undefined ? undefined : `exit ${exit}`;
        if (typeof e.duration_ms === 'number') b.detail = `${b.detail ? `${b.detail} · ` : ''}${formatDuration(e.duration_ms)}`;
        if (e.truncated) b.lines.push('… output truncated');
        this.changedBlock(b);
        return true;
      }
      case 'agent.token': {
        const b = this.streamingMessage ?? (this.streamingMessage = this.add('message', 'Agent', [''], { streaming: true }));
        this.appendText(b, str('text'));
        return true;
      }
      case 'agent.message': {
        const b = this.streamingMessage;
        this.streamingMessage = undefined;
        if (b) {
          b.lines = textLines(str('text'));
          b.streaming = false;
          this.changedBlock(b);
        } else this.add('message', 'Agent', textLines(str('text')));
        return true;
      }
      case 'agent.reasoning': {
        const lines = textLines(str('text'));
        this.add('reasoning', `Thinking: ${firstWords(lines[0] ?? '')}`, lines, { collapsed: true });
        return true;
      }
      case 'tool.started': {
        this.streamingMessage = undefined;
        const title = toolTitle(str('tool'), e.command, e.args);
        const b = this.add('tool', title, [], { collapsed: true, state: 'running', callId: str('call_id') || undefined });
        if (b.callId) this.byCallId.set(b.callId, b);
        this.currentTool = b;
        return true;
      }
      case 'tool.output': {
        const b = this.currentTool;
        if (!b) return false;
        this.appendOutput(b, str('text'), false);
        return true;
      }
      case 'tool.finished': {
        const id = str('call_id');
        let b = id ? this.byCallId.get(id) : undefined;
        if (!b) b = this.add('tool', toolTitle(str('tool'), e.command, e.args), [], { collapsed: true });
        if (this.currentTool === b) this.currentTool = undefined;
        b.open = false;
        // Streamed output already fills the block; otherwise the result carries it.
        if (b.lines.length === 0 || (b.lines.length === 1 && b.lines[0] === '')) b.lines = textLines(str('output'));
        const failed = e.status === 'failed' || (typeof e.exit_code === 'number' && e.exit_code !== 0);
        b.state = failed ? 'failed' : 'ok';
        if (typeof e.exit_code === 'number') b.detail = `exit ${e.exit_code}`;
        this.changedBlock(b);
        return true;
      }
      case 'todo.updated': {
        const items = Array.isArray(e.items) ? (e.items as { text?: string; done?: boolean; status?: string }[]) : [];
        const lines = items.map((t) => `${t.done ? '☑' : t.status === 'in_progress' ? '◐' : '☐'} ${t.text ?? ''}`);
        const done = items.filter((t) => t.done).length;
        if (this.todos) {
          this.todos.lines = lines;
          this.todos.title = `Plan (${done}/${items.length} done)`;
          this.changedBlock(this.todos);
        } else this.todos = this.add('todos', `Plan (${done}/${items.length} done)`, lines, { collapsed: false });
        return true;
      }
      case 'file.changed': {
        const changes = Array.isArray(e.changes) ? (e.changes as { path?: string; kind?: string }[]) : [];
        this.add(
          'files',
          changes.length === 1 ? 'Changed a file' : `Changed ${changes.length} files`,
          changes.map((c) => `${changeLetter(c.kind)} ${c.path ?? ''}`),
        );
        return true;
      }
      case 'diff.ready': {
        const n = typeof e.files === 'number' ? e.files : 0;
        this.add('info', n === 0 ? 'No changes to review' : `${n} ${n === 1 ? 'file' : 'files'} changed, ready for review`, []);
        return true;
      }
      case 'diff.failed':
        this.add('error', 'Could not compute the diff', textLines(str('error')));
        return true;
      case 'model.call':
        if (!str('error')) return false;
        this.add('error', `Model call failed (${String(e.status ?? '')})`, textLines(str('error')));
        return true;
      case 'agent.error':
        this.add('error', e.fatal ? 'The agent failed' : 'Agent error', textLines(str('message')));
        return true;
      case 'agent.log': {
        const b = this.logBlock ?? (this.logBlock = this.add('log', 'Agent log', [], { collapsed: true }));
        b.lines.push(str('text'));
        b.title = `Agent log (${b.lines.length} ${b.lines.length === 1 ? 'line' : 'lines'})`;
        this.changedBlock(b);
        return true;
      }
      case 'output.collapsed': {
        const events = typeof e.events === 'number' ? e.events : 0;
        const bytes = typeof e.bytes === 'number' ? e.bytes : 0;
        this.add('info', `${events} earlier output events (${formatBytes(bytes)}) were dropped to keep the log small`, []);
        return true;
      }
      case 'run.finished': {
        this.streamingMessage = undefined;
        const status = str('status') || 'finished';
        const lines = str('error') ? textLines(str('error')) : [];
        this.add('finished', `Run ${status}`, lines, { state: status === 'succeeded' ? 'ok' : 'failed' });
        return true;
      }
      default:
        return false; // run.status, agent.turn, agent.thread, agent.item: shown elsewhere or not at all
    }
  }

  private add(kind: BlockKind, title: string, lines: string[], opts: Partial<Block> = {}): Block {
    const collapsible =
      kind === 'command' || kind === 'tool' || kind === 'reasoning' || kind === 'prompt' || kind === 'log' || kind === 'todos';
    const block: Block = { id: this.nextId++, kind, title, lines, collapsible, collapsed: false, open: false, ...opts };
    this.blocks.push(block);
    this.invalidate(this.blocks.length - 1);
    return block;
  }

  /** Appends streamed output, keeping a partial last line open until its newline arrives. */
  private appendOutput(block: Block, text: string, stderr: boolean): void {
    if (!text) return;
    const parts = text.split('\n');
    if (block.open && block.lines.length) block.lines[block.lines.length - 1] += parts[0];
    else this.pushLine(block, parts[0], stderr);
    for (let i = 1; i < parts.length; i++) this.pushLine(block, parts[i], stderr);
    // A trailing newline leaves an empty last part: drop it and mark the block closed.
    if (parts[parts.length - 1] === '') {
      block.lines.pop();
      block.stderr?.pop();
      block.open = false;
    } else block.open = true;
    this.changedBlock(block);
  }

  private pushLine(block: Block, line: string, stderr: boolean): void {
    block.lines.push(line);
    if (stderr || block.stderr) {
      block.stderr ??= new Array<boolean>(block.lines.length - 1).fill(false);
      block.stderr.push(stderr);
    }
  }

  /** Appends text to a message, breaking it at newlines. */
  private appendText(block: Block, text: string): void {
    const parts = text.split('\n');
    block.lines[block.lines.length - 1] += parts[0];
    for (let i = 1; i < parts.length; i++) block.lines.push(parts[i]);
    this.changedBlock(block);
  }

  private changedBlock(block: Block): void {
    this.wrapCache.delete(block.id);
    // Blocks that change are nearly always the last ones: search from the end.
    for (let i = this.blocks.length - 1; i >= 0; i--)
      if (this.blocks[i] === block) {
        this.invalidate(i);
        return;
      }
  }

  // --- rows ---

  private invalidate(fromBlock: number): void {
    this.validUpTo = Math.min(this.validUpTo, fromBlock);
  }

  private recount(): void {
    const n = this.blocks.length;
    if (this.validUpTo >= n && this.rowStart.length === n) return;
    this.rowStart.length = n;
    this.rowCounts.length = n;
    let row = this.validUpTo === 0 ? 0 : this.rowStart[this.validUpTo - 1] + this.rowCounts[this.validUpTo - 1];
    for (let i = this.validUpTo; i < n; i++) {
      this.rowStart[i] = row;
      this.rowCounts[i] = this.countRows(this.blocks[i]);
      row += this.rowCounts[i];
    }
    this.totalRows = row;
    this.validUpTo = n;
  }

  private countRows(block: Block): number {
    if (block.collapsed) return 1;
    if (!WRAPPED.has(block.kind)) return 1 + block.lines.length;
    return 1 + this.segments(block).length;
  }

  private segments(block: Block): { text: string; line: number }[] {
    const version = `${block.lines.length}:${block.lines[block.lines.length - 1]?.length ?? 0}`;
    const cached = this.wrapCache.get(block.id);
    if (cached && cached.version === version) return cached.segments;
    const segments: { text: string; line: number }[] = [];
    block.lines.forEach((line, i) => {
      for (const s of wrapLine(line, this.wrapColumns)) segments.push({ text: s, line: i });
    });
    this.wrapCache.set(block.id, { version, segments });
    return segments;
  }

  private blockAtRow(row: number): number {
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.rowStart[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private rowOf(block: Block, k: number): Row {
    if (k === 0) return { block, line: -1, text: block.title, stderr: false };
    if (!WRAPPED.has(block.kind)) return { block, line: k - 1, text: block.lines[k - 1], stderr: block.stderr?.[k - 1] ?? false };
    const seg = this.segments(block)[k - 1];
    return { block, line: seg.line, text: seg.text, stderr: false };
  }
}

/** Breaks a line into pieces of at most `columns` characters, at spaces where it can. */
export function wrapLine(line: string, columns: number): string[] {
  if (line.length <= columns) return [line];
  const out: string[] = [];
  let rest = line;
  while (rest.length > columns) {
    let cut = rest.lastIndexOf(' ', columns);
    if (cut < columns / 2) cut = columns;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^ /, '');
  }
  out.push(rest);
  return out;
}

function textLines(text: string): string[] {
  return text.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
}

function firstWords(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function toolTitle(tool: string, command: unknown, args: unknown): string {
  if (typeof command === 'string' && command) return `${tool || 'shell'}: ${firstWords(command)}`;
  if (args && typeof args === 'object') {
    const a = args as Record<string, unknown>;
    const main = a.command ?? a.file_path ?? a.path ?? a.pattern ?? a.query;
    if (typeof main === 'string') return `${tool}: ${firstWords(main)}`;
  }
  return tool || 'tool';
}

function changeLetter(kind: string | undefined): string {
  return kind === 'add' ? 'A' : kind === 'delete' ? 'D' : 'M';
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
