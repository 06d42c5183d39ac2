// The input at the bottom of the sidebar. With no run shown it starts a
// run (task or error, agent, and a command for the command agent); with a
// run shown it sends a follow-up to it. Ctrl/Cmd+Enter sends.

export interface ComposerValues {
  draft: string;
  command: string;
  agent: string;
  kind: 'spec' | 'error';
}

export interface ComposerHandlers {
  onStart(values: ComposerValues): void;
  onFollowUp(message: string): void;
  onChange(values: ComposerValues): void;
}

export class Composer {
  readonly element: HTMLFormElement;
  private readonly input: HTMLTextAreaElement;
  private readonly command: HTMLInputElement;
  private readonly agent: HTMLSelectElement;
  private readonly kind: HTMLSelectElement;
  private readonly options: HTMLElement;
  private readonly send: HTMLButtonElement;
  private readonly errorLine: HTMLElement;
  private mode: 'start' | 'followUp' = 'start';
  private busy = false;

  constructor(
    initial: ComposerValues,
    private readonly handlers: ComposerHandlers,
  ) {
    this.element = document.createElement('form');
    this.element.className = 'composer';
    this.element.setAttribute('aria-label', 'New run');

    this.input = document.createElement('textarea');
    this.input.id = 'composer-input';
    this.input.rows = 3;
    this.input.value = initial.draft;
    this.input.setAttribute('aria-label', 'Task');

    this.command = document.createElement('input');
    this.command.id = 'composer-command';
    this.command.type = 'text';
    this.command.placeholder = 'Shell command to run in the sandbox, e.g. npx prettier --write .';
    this.command.setAttribute('aria-label', 'Command');
    this.command.value = initial.command;

    this.agent = select('composer-agent', 'Agent', [[initial.agent, initial.agent]]);
    this.kind = select('composer-kind', 'Kind of task', [
      ['spec', 'Task'],
      ['error', 'Error to fix'],
    ]);
    this.kind.value = initial.kind;

    this.send = document.createElement('button');
    this.send.type = 'submit';
    this.send.className = 'primary';

    this.options = document.createElement('div');
    this.options.className = 'composer-options';
    this.options.append(this.kind, this.agent);
    const actions = document.createElement('div');
    actions.className = 'composer-actions';
    actions.append(this.options, this.send);
    this.errorLine = document.createElement('div');
    this.errorLine.className = 'composer-error';
    this.errorLine.setAttribute('role', 'alert');
    this.element.append(this.input, this.command, actions, this.errorLine);

    this.element.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.submit();
    });
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        this.submit();
      }
    });
    for (const control of [this.input, this.command, this.agent, this.kind])
      control.addEventListener('input', () => {
        this.showError('');
        this.layout();
        this.handlers.onChange(this.values());
      });
    this.layout();
  }

  setAgents(agents: string[], preferred: string): void {
    const current = this.agent.value;
    this.agent.replaceChildren(
      ...agents.map((a) => {
        const o = document.createElement('option');
        o.value = a;
        o.textContent = a === 'command' ? 'command (no model)' : a;
        return o;
      }),
    );
    this.agent.value = agents.includes(current) ? current : preferred;
    this.layout();
  }

  /** Start mode with no run shown; follow-up mode on a run, with a hint for what the agent takes. */
  setMode(mode: 'start' | 'followUp', runAgent?: string): void {
    this.mode = mode;
    this.followUpAgent = runAgent;
    this.layout();
  }

  setBusy(busy: boolean): void {
    this.busy = busy;
    this.send.disabled = busy;
  }

  showError(message: string): void {
    this.errorLine.textContent = message;
    this.errorLine.hidden = !message;
  }

  focus(): void {
    this.input.focus();
  }

  private followUpAgent?: string;

  private values(): ComposerValues {
    return {
      draft: this.input.value,
      command: this.command.value,
      agent: this.agent.value,
      kind: this.kind.value === 'error' ? 'error' : 'spec',
    };
  }

  private layout(): void {
    const start = this.mode === 'start';
    this.options.hidden = !start;
    this.command.hidden = !start || this.agent.value !== 'command';
    this.element.setAttribute('aria-label', start ? 'New run' : 'Follow-up');
    if (start) {
      this.input.placeholder =
        this.kind.value === 'error'
          ? 'Paste the error: a stack trace, a failing test, compiler output…'
          : 'Describe the task for the agent… (Ctrl+Enter to start)';
      this.input.setAttribute('aria-label', this.kind.value === 'error' ? 'Error to fix' : 'Task');
      this.send.textContent = 'Start run';
    } else {
      this.input.placeholder =
        this.followUpAgent === 'command' ? 'Another command to run in the same sandbox…' : 'Follow up on this run… (Ctrl+Enter to send)';
      this.input.setAttribute('aria-label', 'Follow-up message');
      this.send.textContent = 'Send';
    }
  }

  private submit(): void {
    if (this.busy) return;
    const v = this.values();
    const text = v.draft.trim();
    if (this.mode === 'followUp') {
      if (!text) return this.showError('Write a message first.');
      this.handlers.onFollowUp(text);
    } else {
      if (v.agent === 'command' && !v.command.trim()) return this.showError('The command agent needs a command to run.');
      if (!text && v.agent !== 'command') return this.showError('Describe the task first.');
      this.handlers.onStart({ ...v, draft: text || v.command.trim() });
    }
  }

  /** Empties the input and the command: a task already sent, back from an old saved state. */
  forgetSent(): void {
    this.input.value = '';
    this.command.value = '';
    this.layout();
    this.handlers.onChange(this.values());
  }

  /** Clears the input after the extension took the message. */
  clear(): void {
    this.input.value = '';
    if (this.mode === 'start') this.command.value = '';
    this.handlers.onChange(this.values());
  }
}

function select(id: string, label: string, options: [string, string][]): HTMLSelectElement {
  const s = document.createElement('select');
  s.id = id;
  s.setAttribute('aria-label', label);
  for (const [value, text] of options) {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    s.append(o);
  }
  return s;
}
