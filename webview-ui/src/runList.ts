// The list of runs: status, title, agent and age, newest first. A listbox
// for screen readers and the keyboard (arrows move, Enter opens).
import type { Run } from '@astraforge/contract/runApi';
import { age, runTitle, sourceBadge, statusIcon } from './runFormat';

export class RunList {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly toggle: HTMLButtonElement;
  private runs: Run[] = [];
  private selectedId?: string;
  private focusIndex = 0;

  constructor(
    private readonly onSelect: (runId: string) => void,
    private collapsed: boolean,
    private readonly onCollapse: (collapsed: boolean) => void,
  ) {
    this.element = document.createElement('section');
    this.element.className = 'runs';
    this.toggle = document.createElement('button');
    this.toggle.type = 'button';
    this.toggle.className = 'section-header';
    this.toggle.addEventListener('click', () => {
      this.collapsed = !this.collapsed;
      this.onCollapse(this.collapsed);
      this.render();
    });
    this.list = document.createElement('div');
    this.list.className = 'run-list';
    this.list.setAttribute('role', 'listbox');
    this.list.setAttribute('aria-label', 'Runs');
    this.list.tabIndex = 0;
    this.list.addEventListener('keydown', (ev) => this.onKey(ev));
    this.list.addEventListener('click', (ev) => {
      const item = (ev.target as HTMLElement).closest<HTMLElement>('[data-run]');
      if (item?.dataset.run) this.onSelect(item.dataset.run);
    });
    this.element.append(this.toggle, this.list);
    this.render();
  }

  setRuns(runs: Run[]): void {
    this.runs = runs;
    this.render();
  }

  setSelected(runId: string | undefined): void {
    this.selectedId = runId;
    const i = this.runs.findIndex((r) => r.id === runId);
    if (i >= 0) this.focusIndex = i;
    this.render();
  }

  /** Redraws (the ages move on). */
  render(): void {
    this.toggle.innerHTML = '';
    const chevron = document.createElement('span');
    chevron.className = `codicon ${this.collapsed ? 'codicon-chevron-right' : 'codicon-chevron-down'}`;
    chevron.setAttribute('aria-hidden', 'true');
    this.toggle.append(chevron, ` Runs (${this.runs.length})`);
    this.toggle.setAttribute('aria-expanded', String(!this.collapsed));
    this.list.hidden = this.collapsed;
    if (this.collapsed) return;
    const now = Date.now();
    this.focusIndex = Math.min(this.focusIndex, Math.max(0, this.runs.length - 1));
    const items = this.runs.map((run, i) => {
      const item = document.createElement('div');
      item.className = 'run-item';
      item.id = `run-${run.id}`;
      item.dataset.run = run.id;
      item.setAttribute('role', 'option');
      const selected = run.id === this.selectedId;
      item.setAttribute('aria-selected', String(selected));
      if (selected) item.classList.add('selected');
      if (i === this.focusIndex) item.classList.add('focused');
      const statusEl = document.createElement('span');
      statusEl.className = `codicon ${statusIcon(run.status)} status status-${run.status}`;
      statusEl.setAttribute('aria-hidden', 'true');
      const title = document.createElement('span');
      title.className = 'run-title';
      title.textContent = runTitle(run);
      const meta = document.createElement('span');
      meta.className = 'run-meta';
      meta.textContent = `${run.agent} · ${age(run.created_at, now)}`;
      const badge = sourceBadge(run);
      const from = badge ? `from ${badge} issue ${run.source!.issue_id}` : undefined;
      item.setAttribute('aria-label', [runTitle(run), from, run.status, run.agent, age(run.created_at, now)].filter(Boolean).join(', '));
      item.title = badge ? `${run.status}: ${from}${run.source!.url ? ` (${run.source!.url})` : ''}` : `${run.status}: ${run.task.prompt}`;
      if (badge) {
        const tag = document.createElement('span');
        tag.className = `run-source source-${run.source!.kind}`;
        tag.textContent = badge;
        item.classList.add('from-alert');
        item.append(statusEl, tag, title, meta);
      } else item.append(statusEl, title, meta);
      return item;
    });
    if (!items.length) {
      const empty = document.createElement('div');
      empty.className = 'empty';
      empty.textContent = 'No runs yet. Describe a task below to start one.';
      items.push(empty);
    }
    this.list.replaceChildren(...items);
    const focused = this.runs[this.focusIndex];
    if (focused) this.list.setAttribute('aria-activedescendant', `run-${focused.id}`);
    else this.list.removeAttribute('aria-activedescendant');
  }

  private onKey(ev: KeyboardEvent): void {
    if (!this.runs.length) return;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      const step = ev.key === 'ArrowDown' ? 1 : -1;
      this.focusIndex = Math.min(this.runs.length - 1, Math.max(0, this.focusIndex + step));
      this.render();
      this.list.querySelector('.focused')?.scrollIntoView({ block: 'nearest' });
    } else if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      this.onSelect(this.runs[this.focusIndex].id);
    }
  }
}
