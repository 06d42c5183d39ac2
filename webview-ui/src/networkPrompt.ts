// The hosts the egress proxy refused in the shown run, above the composer,
// each with Allow for this workspace and Allow once: the user is told which
// host was blocked and can let the run go on without leaving the sidebar.
import type { RunEvent } from '@astraforge/contract/runApi';
import { RunEventName } from '@astraforge/contract/runEvents';

const SHOWN = 3;

export interface NetworkPromptHandlers {
  onAllow(host: string, port: number, scope: 'workspace' | 'once'): void;
}

export class NetworkPrompt {
  readonly element: HTMLElement;
  /** host:port -> the refusal's rule, the latest last. */
  private readonly blocked = new Map<string, { host: string; port: number; rule: string }>();

  constructor(private readonly handlers: NetworkPromptHandlers) {
    this.element = document.createElement('div');
    this.element.className = 'network-prompt';
    this.element.setAttribute('role', 'region');
    this.element.setAttribute('aria-label', 'Blocked network access');
    this.element.hidden = true;
    this.element.addEventListener('click', (ev) => {
      const b = (ev.target as HTMLElement).closest<HTMLElement>('[data-scope]');
      if (!b) return;
      const key = b.dataset.key!;
      const item = this.blocked.get(key);
      if (!item) return;
      if (b.dataset.scope === 'dismiss') this.blocked.delete(key);
      else {
        this.handlers.onAllow(item.host, item.port, b.dataset.scope === 'workspace' ? 'workspace' : 'once');
        this.blocked.delete(key);
      }
      this.render();
    });
  }

  /** Another run is shown: its own refusals come with its events. */
  reset(): void {
    this.blocked.clear();
    this.render();
  }

  /** Takes the refusals (and the hosts reached since, which no longer need asking) of a batch of the run's events. */
  apply(events: readonly RunEvent[]): void {
    let changed = false;
    for (const e of events) {
      if (e.type === RunEventName.networkBlocked) {
        const key = `${e.host}:${e.port}`;
        this.blocked.delete(key); // the latest last
        this.blocked.set(key, { host: e.host, port: e.port, rule: e.rule });
        changed = true;
      } else if (e.type === RunEventName.networkAllowed) changed = this.blocked.delete(`${e.host}:${e.port}`) || changed;
    }
    if (changed) this.render();
  }

  private render(): void {
    const items = [...this.blocked.entries()].slice(-SHOWN);
    this.element.hidden = items.length === 0;
    this.element.replaceChildren(
      ...items.map(([key, item]) => {
        const row = document.createElement('div');
        row.className = 'network-prompt-row';
        const head = document.createElement('div');
        head.className = 'network-prompt-head';
        const text = document.createElement('span');
        text.className = 'network-prompt-text';
        text.innerHTML = '<span class="codicon codicon-shield" aria-hidden="true"></span> ';
        text.append(`Blocked: ${key}`);
        text.title = `The run's sandbox was refused ${key} (${item.rule})`;
        head.append(text, dismiss(key));
        const actions = document.createElement('div');
        actions.className = 'network-prompt-actions';
        actions.append(button(key, 'workspace', 'Allow for this workspace'), button(key, 'once', 'Allow once'));
        row.append(head, actions);
        return row;
      }),
    );
  }
}

function button(key: string, scope: 'workspace' | 'once', label: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'secondary-button';
  b.dataset.key = key;
  b.dataset.scope = scope;
  b.textContent = label;
  return b;
}

function dismiss(key: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'icon-button';
  b.dataset.key = key;
  b.dataset.scope = 'dismiss';
  b.title = 'Dismiss';
  b.setAttribute('aria-label', `Dismiss ${key}`);
  b.innerHTML = '<span class="codicon codicon-close" aria-hidden="true"></span>';
  return b;
}
