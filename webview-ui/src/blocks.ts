// The transcript's blocks (a command with its output, a tool call, a
// message) and the edits events make to them. Every edit names the block it
// touched to a listener, so the row layout recounts from there on only.

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

const COLLAPSIBLE: ReadonlySet<BlockKind> = new Set(['command', 'tool', 'reasoning', 'prompt', 'log', 'todos']);

export interface BlockListener {
  /** `block`, at `index` in the list, was added or changed. */
  blockChanged(block: Block, index: number): void;
}

export class Blocks {
  private nextId = 1;

  constructor(
    /** The list, in order; shared with whoever reads it (the row layout). */
    readonly list: Block[],
    private readonly listener: BlockListener,
  ) {}

  add(kind: BlockKind, title: string, lines: string[], opts: Partial<Block> = {}): Block {
    const block: Block = {
      id: this.nextId++,
      kind,
      title,
      lines,
      collapsible: COLLAPSIBLE.has(kind),
      collapsed: false,
      open: false,
      ...opts,
    };
    this.list.push(block);
    this.listener.blockChanged(block, this.list.length - 1);
    return block;
  }

  /** Appends streamed output, keeping a partial last line open until its newline arrives. */
  appendOutput(block: Block, text: string, stderr: boolean): void {
    if (!text) return;
    const parts = text.split('\n');
    if (block.open && block.lines.length) block.lines[block.lines.length - 1] += parts[0];
    else pushLine(block, parts[0], stderr);
    for (let i = 1; i < parts.length; i++) pushLine(block, parts[i], stderr);
    // A trailing newline leaves an empty last part: drop it and mark the block closed.
    if (parts[parts.length - 1] === '') {
      block.lines.pop();
      block.stderr?.pop();
      block.open = false;
    } else block.open = true;
    this.changed(block);
  }

  /** Appends text to a message, breaking it at newlines. */
  appendText(block: Block, text: string): void {
    const parts = text.split('\n');
    block.lines[block.lines.length - 1] += parts[0];
    for (let i = 1; i < parts.length; i++) block.lines.push(parts[i]);
    this.changed(block);
  }

  /** Tells the listener that a block's lines or header changed. */
  changed(block: Block): void {
    // Blocks that change are nearly always the last ones: search from the end.
    for (let i = this.list.length - 1; i >= 0; i--)
      if (this.list[i] === block) {
        this.listener.blockChanged(block, i);
        return;
      }
  }

  toggle(blockId: number): boolean {
    const i = this.list.findIndex((b) => b.id === blockId);
    if (i < 0 || !this.list[i].collapsible) return false;
    this.list[i].collapsed = !this.list[i].collapsed;
    this.listener.blockChanged(this.list[i], i);
    return true;
  }
}

function pushLine(block: Block, line: string, stderr: boolean): void {
  block.lines.push(line);
  if (stderr || block.stderr) {
    block.stderr ??= new Array<boolean>(block.lines.length - 1).fill(false);
    block.stderr.push(stderr);
  }
}
