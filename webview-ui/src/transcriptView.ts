// The transcript on screen: a virtual list with one fixed row height that
// renders only the rows in view (plus a little overscan), reusing its row
// elements, and redraws at most once per animation frame however many
// events arrive. It follows the end only while the reader is there.
import { ScrollFollow } from './scrollFollow';
import type { Block, BlockKind } from './blocks';
import type { Row } from './rowLayout';
import type { Transcript } from './transcript';

const OVERSCAN_ROWS = 20;

const KIND_ICON: Record<BlockKind, string> = {
  user: 'codicon-account',
  prompt: 'codicon-note',
  message: 'codicon-hubot',
  reasoning: 'codicon-lightbulb',
  command: 'codicon-terminal',
  tool: 'codicon-tools',
  todos: 'codicon-checklist',
  files: 'codicon-files',
  log: 'codicon-output',
  info: 'codicon-info',
  error: 'codicon-warning',
  finished: 'codicon-flag',
};

export class TranscriptView {
  readonly element: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly jump: HTMLButtonElement;
  private readonly pool: HTMLElement[] = [];
  private readonly follow = new ScrollFollow();
  private rowHeight = 18;
  private charWidth = 7;
  private frame = 0;
  private lastRowCount = 0;
  /** Set while we move the scroll position ourselves, so it is not read as the reader scrolling. */
  private programmaticScroll = false;

  constructor(
    private transcript: Transcript,
    private readonly onToggle: (blockId: number) => void,
    /** Called after a frame that drew new rows. */
    private readonly onDrawn: (rowCount: number) => void = () => {},
  ) {
    this.element = el('div', 'transcript');
    this.scroller = el('div', 'transcript-scroller');
    this.scroller.tabIndex = 0;
    this.scroller.setAttribute('role', 'log');
    this.scroller.setAttribute('aria-label', 'Run transcript');
    this.scroller.setAttribute('aria-live', 'off');
    this.spacer = el('div', 'transcript-spacer');
    this.scroller.append(this.spacer);
    this.jump = el('button', 'jump-to-latest') as HTMLButtonElement;
    this.jump.type = 'button';
    this.jump.innerHTML = '<span class="codicon codicon-arrow-down" aria-hidden="true"></span> Jump to latest';
    this.jump.hidden = true;
    this.jump.addEventListener('click', () => {
      this.follow.jumpToLatest();
      this.scrollToEnd();
      this.schedule();
    });
    this.element.append(this.scroller, this.jump);

    this.scroller.addEventListener('scroll', () => {
      if (this.programmaticScroll) this.programmaticScroll = false;
      else this.follow.onScroll(this.scroller);
      this.schedule();
    });
    this.scroller.addEventListener('click', (ev) => {
      const header = (ev.target as HTMLElement).closest<HTMLElement>('[data-block]');
      if (header) this.onToggle(Number(header.dataset.block));
    });
    this.scroller.addEventListener('keydown', (ev) => {
      const header = (ev.target as HTMLElement).closest<HTMLElement>('[data-block]');
      if (header && (ev.key === 'Enter' || ev.key === ' ')) {
        ev.preventDefault();
        this.onToggle(Number(header.dataset.block));
      }
    });
    new ResizeObserver(() => {
      this.measure();
      this.schedule();
    }).observe(this.scroller);
  }

  /** Shows another transcript (a newly selected run), starting at its end. */
  setTranscript(transcript: Transcript): void {
    this.transcript = transcript;
    this.follow.jumpToLatest();
    this.lastRowCount = 0;
    this.measure();
    this.schedule();
  }

  /** Something changed: redraw on the next frame (many calls per frame cost one draw). */
  schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Reads the row height and character width from the theme's fonts, once they apply. */
  private measure(): void {
    const probe = el('div', 'row row-line');
    probe.style.visibility = 'hidden';
    probe.textContent = 'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ 0123456789';
    this.spacer.append(probe);
    const h = probe.getBoundingClientRect().height;
    const w = probe.firstChild ? rangeWidth(probe) : 0;
    probe.remove();
    if (h > 0) this.rowHeight = Math.round(h);
    if (w > 0) this.charWidth = w / probe.textContent.length;
    const width = this.scroller.clientWidth - 24; // the row's padding and the scrollbar
    if (width > 0 && this.transcript.setWrapColumns(width / this.charWidth)) this.lastRowCount = -1;
  }

  private draw(): void {
    const count = this.transcript.rowCount;
    this.spacer.style.height = `${count * this.rowHeight}px`;
    const grew = count !== this.lastRowCount;
    if (grew) {
      if (count > this.lastRowCount && this.follow.onGrow()) this.scrollToEnd();
      this.lastRowCount = count;
    } else if (this.follow.following) this.scrollToEnd(); // a growing last line
    this.jump.hidden = !this.follow.unseen;

    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - OVERSCAN_ROWS);
    const last = Math.min(count, Math.ceil((top + height) / this.rowHeight) + OVERSCAN_ROWS);
    const rows = this.transcript.rowsInRange(first, last);
    while (this.pool.length < rows.length) {
      const row = el('div', 'row');
      this.pool.push(row);
      this.spacer.append(row);
    }
    rows.forEach((row, i) => this.paint(this.pool[i], row, first + i));
    for (let i = rows.length; i < this.pool.length; i++) this.pool[i].hidden = true;
    this.onDrawn(count);
  }

  private scrollToEnd(): void {
    const target = Math.max(0, this.spacer.offsetHeight - this.scroller.clientHeight);
    if (Math.abs(this.scroller.scrollTop - target) < 1) return;
    this.programmaticScroll = true;
    this.scroller.scrollTop = target;
  }

  private paint(node: HTMLElement, row: Row, index: number): void {
    node.hidden = false;
    node.style.transform = `translateY(${index * this.rowHeight}px)`;
    const b = row.block;
    if (row.line === -1) {
      node.className = `row row-header kind-${b.kind}${b.state ? ` state-${b.state}` : ''}`;
      node.dataset.block = b.collapsible ? String(b.id) : '';
      if (!b.collapsible) delete node.dataset.block;
      node.tabIndex = b.collapsible ? 0 : -1;
      if (b.collapsible) {
        node.setAttribute('role', 'button');
        node.setAttribute('aria-expanded', String(!b.collapsed));
      } else {
        node.removeAttribute('role');
        node.removeAttribute('aria-expanded');
      }
      node.replaceChildren(...headerParts(b));
    } else {
      node.className = `row row-line kind-${b.kind}${row.stderr ? ' stderr' : ''}`;
      delete node.dataset.block;
      node.tabIndex = -1;
      node.removeAttribute('role');
      node.removeAttribute('aria-expanded');
      node.textContent = row.text;
    }
  }
}

function headerParts(b: Block): Node[] {
  const parts: Node[] = [];
  if (b.collapsible) parts.push(icon(b.collapsed ? 'codicon-chevron-right' : 'codicon-chevron-down', 'chevron'));
  const stateIcon =
    b.state === 'running'
      ? 'codicon-loading codicon-modifier-spin'
      : b.state === 'failed'
        ? 'codicon-error'
        : b.state === 'ok'
          ? 'codicon-pass'
          : '';
  parts.push(icon(stateIcon || KIND_ICON[b.kind] || 'codicon-circle-small', 'kind-icon'));
  const title = el('span', 'title');
  title.textContent = b.streaming ? `${b.title} …` : b.title;
  parts.push(title);
  if (b.detail) {
    const detail = el('span', 'detail');
    detail.textContent = b.detail;
    parts.push(detail);
  }
  if (b.collapsible && b.collapsed && b.lines.length) {
    const count = el('span', 'detail');
    count.textContent = `${b.lines.length} ${b.lines.length === 1 ? 'line' : 'lines'}`;
    parts.push(count);
  }
  return parts;
}

function icon(name: string, cls: string): HTMLElement {
  const i = el('span', `codicon ${name} ${cls}`);
  i.setAttribute('aria-hidden', 'true');
  return i;
}

function el(tag: string, cls: string): HTMLElement {
  const e = document.createElement(tag);
  e.className = cls;
  return e;
}

function rangeWidth(node: HTMLElement): number {
  const range = document.createRange();
  range.selectNodeContents(node);
  return range.getBoundingClientRect().width;
}
