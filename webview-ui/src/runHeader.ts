// The shown run's header: back to a new run, status, agent, token usage,
// and the Cancel and Review changes buttons.
import type { Run } from '@astraforge/contract/runApi';
import { isActive, runTitle, sourceBadge, statusIcon, usageText } from './runFormat';

export interface RunHeaderHandlers {
  onNewRun(): void;
  onCancel(runId: string): void;
  onReview(runId: string): void;
  /** Open the issue an alert's run came from. */
  onOpenSource(runId: string): void;
}

export class RunHeader {
  readonly element: HTMLElement;
  private run?: Run;

  constructor(private readonly handlers: RunHeaderHandlers) {
    this.element = document.createElement('header');
    this.element.className = 'run-header';
    this.element.hidden = true;
    this.element.addEventListener('click', (ev) => {
      const action = (ev.target as HTMLElement).closest<HTMLElement>('[data-action]')?.dataset.action;
      if (!action) return;
      if (action === 'new') this.handlers.onNewRun();
      else if (this.run && action === 'cancel') this.handlers.onCancel(this.run.id);
      else if (this.run && action === 'review') this.handlers.onReview(this.run.id);
      else if (this.run && action === 'source') this.handlers.onOpenSource(this.run.id);
    });
  }

  setRun(run: Run | undefined): void {
    this.run = run;
    this.element.hidden = !run;
    if (!run) return;
    const status = document.createElement('div');
    status.className = `run-status status-${run.status}`;
    status.setAttribute('role', 'status');
    status.innerHTML = `<span class="codicon ${statusIcon(run.status)}" aria-hidden="true"></span>`;
    const label = document.createElement('span');
    label.className = 'run-status-label';
    label.textContent = run.status;
    const meta = document.createElement('span');
    meta.className = 'run-meta';
    meta.textContent = [run.agent, usageText(run)].filter(Boolean).join(' · ');
    status.append(label);

    const title = document.createElement('div');
    title.className = 'run-header-title';
    title.textContent = runTitle(run);
    title.title = run.task.prompt;

    const buttons = document.createElement('div');
    buttons.className = 'run-actions';
    buttons.append(
      textButton('new', 'codicon-add', 'New run'),
      button('cancel', 'codicon-debug-stop', 'Cancel run', !isActive(run.status)),
      button('review', 'codicon-diff', 'Review changes', isActive(run.status) && run.status !== 'running'),
    );
    const top = document.createElement('div');
    top.className = 'run-header-top';
    top.append(status, buttons);
    // The agent and usage on a line of their own: beside the status they ran under the buttons.
    this.element.replaceChildren(top, title, meta);
    const source = sourceLine(run);
    if (source) this.element.append(source);
    if (run.error) {
      const err = document.createElement('div');
      err.className = 'run-error';
      err.textContent = run.error;
      this.element.append(err);
    }
  }
}

/** "Sentry issue 42: TypeError in cartTotal", opening the issue when the run's source has a link. */
function sourceLine(run: Run): HTMLElement | undefined {
  const badge = sourceBadge(run);
  if (!badge || !run.source) return undefined;
  const line = document.createElement(run.source.url ? 'button' : 'div');
  line.className = 'run-source-line';
  const text = `${badge} issue ${run.source.issue_id}: ${run.source.title}`;
  if (line instanceof HTMLButtonElement) {
    line.type = 'button';
    line.dataset.action = 'source';
    line.title = `Open ${run.source.url}`;
    line.innerHTML = '<span class="codicon codicon-link-external" aria-hidden="true"></span>';
  }
  const label = document.createElement('span');
  label.className = 'run-source-text';
  label.textContent = text;
  line.append(label);
  return line;
}

/** A button that says what it does in words: starting another run must not be a bare "+". */
function textButton(action: string, iconName: string, label: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'text-button';
  b.dataset.action = action;
  b.innerHTML = `<span class="codicon ${iconName}" aria-hidden="true"></span>`;
  b.append(label);
  return b;
}

function button(action: string, iconName: string, label: string, disabled: boolean): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'icon-button';
  b.dataset.action = action;
  b.title = label;
  b.setAttribute('aria-label', label);
  b.disabled = disabled;
  b.innerHTML = `<span class="codicon ${iconName}" aria-hidden="true"></span>`;
  return b;
}
