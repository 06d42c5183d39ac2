// The transcript's blocks as rows for a virtual list, so 100,000 lines cost
// only what the viewport shows: per-block row counts, recounted from the
// first block that changed, and a binary search for the block at a row.
import type { Block, BlockKind, BlockListener } from './blocks';

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

interface Segment {
  text: string;
  line: number;
}

export class RowLayout implements BlockListener {
  private wrapColumns = 80;
  /** rowStart[i] is the first row of blocks[i]; valid up to `validUpTo`. */
  private readonly rowStart: number[] = [];
  private readonly rowCounts: number[] = [];
  private validUpTo = 0;
  private totalRows = 0;
  /** Wrapped segments of the lines of wrapped blocks, by block id (cheap: those blocks are small). */
  private readonly wrapCache = new Map<number, { version: string; segments: Segment[] }>();

  constructor(private readonly blocks: readonly Block[]) {}

  blockChanged(block: Block, index: number): void {
    this.wrapCache.delete(block.id);
    this.validUpTo = Math.min(this.validUpTo, index);
  }

  /** Sets the width in characters that wrapped blocks fit to; returns whether it changed. */
  setWrapColumns(columns: number): boolean {
    const c = Math.max(20, Math.floor(columns));
    if (c === this.wrapColumns) return false;
    this.wrapColumns = c;
    this.wrapCache.clear();
    this.validUpTo = 0;
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

  /** The row where a block's header is. */
  rowOfBlock(blockId: number): number {
    this.recount();
    const i = this.blocks.findIndex((b) => b.id === blockId);
    return i < 0 ? -1 : this.rowStart[i];
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

  private segments(block: Block): Segment[] {
    const version = `${block.lines.length}:${block.lines[block.lines.length - 1]?.length ?? 0}`;
    const cached = this.wrapCache.get(block.id);
    if (cached && cached.version === version) return cached.segments;
    const segments: Segment[] = [];
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

/**
 * Where a word longer than half a row may break, best first: after a path
 * separator, then after call and list punctuation, then after a dot, colon
 * or dash; so a stack frame breaks between folders and keeps ")" with its file.
 */
const BREAK_AFTER: readonly string[] = ['/\\', '(,;&?=', '.:-'];

/**
 * Breaks a line into pieces of at most `columns` characters: at the last
 * space that leaves at least half a row, else after the best punctuation
 * that does (BREAK_AFTER), else (one word longer than a row) at the column.
 */
export function wrapLine(line: string, columns: number): string[] {
  if (line.length <= columns) return [line];
  const out: string[] = [];
  let rest = line;
  while (rest.length > columns) {
    let cut = rest.lastIndexOf(' ', columns);
    if (cut < columns / 2) cut = lastBreakAfterPunctuation(rest, columns);
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^ /, '');
  }
  out.push(rest);
  return out;
}

function lastBreakAfterPunctuation(text: string, columns: number): number {
  for (const chars of BREAK_AFTER) {
    for (let i = columns; i >= columns / 2; i--) if (chars.includes(text[i - 1])) return i;
  }
  return columns;
}
