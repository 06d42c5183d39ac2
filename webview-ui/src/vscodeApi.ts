// The webview's side of VS Code: posting messages and the state that
// survives hiding and reloading the view (drafts, the shown run, choices).

export interface ViewState {
  draft: string;
  command: string;
  agent?: string;
  kind: 'spec' | 'error';
  selectedRunId?: string;
  /** The run list is folded away. */
  runsCollapsed: boolean;
}

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

const api = acquireVsCodeApi();

export function post(message: unknown): void {
  api.postMessage(message);
}

export function loadState(): ViewState {
  const s = (api.getState() ?? {}) as Partial<ViewState>;
  return {
    draft: typeof s.draft === 'string' ? s.draft : '',
    command: typeof s.command === 'string' ? s.command : '',
    agent: typeof s.agent === 'string' ? s.agent : undefined,
    kind: s.kind === 'error' ? 'error' : 'spec',
    selectedRunId: typeof s.selectedRunId === 'string' ? s.selectedRunId : undefined,
    runsCollapsed: s.runsCollapsed === true,
  };
}

export function saveState(state: ViewState): void {
  api.setState(state);
}
