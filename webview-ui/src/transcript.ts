// The run's transcript as the sidebar shows it: events in (each once, in
// order), blocks built from them (eventBlocks), rows out for the virtual list
// (rowLayout). Pure and DOM-free, so it is unit-tested without a browser.
import type { RunEvent } from '@astraforge/contract/runApi';
import { Blocks, type Block } from './blocks';
import { applyEvent, type OpenBlocks } from './eventBlocks';
import { RowLayout, type Row } from './rowLayout';

export class Transcript {
  /** The highest seq applied; events at or below it are duplicates and ignored. */
  lastSeq = 0;
  private readonly list: Block[] = [];
  private readonly layout = new RowLayout(this.list);
  private readonly edits = new Blocks(this.list, this.layout);
  private readonly open: OpenBlocks = { byCallId: new Map() };

  get blocks(): readonly Block[] {
    return this.list;
  }

  /** Applies events in order; returns whether anything changed. Duplicates (seq already seen) are skipped. */
  apply(events: readonly RunEvent[]): boolean {
    let changed = false;
    for (const e of events) {
      if (e.seq <= this.lastSeq) continue;
      this.lastSeq = e.seq;
      if (applyEvent({ blocks: this.edits, open: this.open }, e)) changed = true;
    }
    return changed;
  }

  /** Sets the width in characters that wrapped blocks fit to; returns whether it changed. */
  setWrapColumns(columns: number): boolean {
    return this.layout.setWrapColumns(columns);
  }

  /** Collapses or expands a block; returns whether it could. */
  toggle(blockId: number): boolean {
    return this.edits.toggle(blockId);
  }

  get rowCount(): number {
    return this.layout.rowCount;
  }

  /** The rows from `start` (inclusive) to `end` (exclusive). */
  rowsInRange(start: number, end: number): Row[] {
    return this.layout.rowsInRange(start, end);
  }

  /** The row where a block's header is, for keyboard navigation and tests. */
  rowOfBlock(blockId: number): number {
    return this.layout.rowOfBlock(blockId);
  }
}
