// A run as its events leave it, so the extension keeps the runs it shows up
// to date from their event streams instead of asking the server again. The
// fields each event carries are the run's own (the server sets both from the
// same values), absolute rather than increments, so applying an event twice
// changes nothing. Imports nothing of vscode: unit-tested without an editor.
import { RunEventName, type Run, type RunEvent, type RunEventOf, type RunEventType } from '@astraforge/contract/runApi';

/** What an event of type K changes in the run (the other types change none of its fields). */
type Change<K extends RunEventType> = (e: RunEventOf<K>, run: Run) => Partial<Run>;

const CHANGES: { readonly [K in RunEventType]?: Change<K> } = {
  [RunEventName.runStatus]: (e, run) => ({
    status: e.status,
    ...(e.status === 'running' && !run.started_at ? { started_at: e.ts } : {}),
  }),
  [RunEventName.sandboxReady]: (e) => ({ session_id: e.session_id }),
  // A new turn: the last one's end and error no longer hold (its status event follows).
  [RunEventName.runFollowup]: () => ({ error: undefined, finished_at: undefined }),
  [RunEventName.runFinished]: (e) => ({ status: e.status, error: e.error, finished_at: e.ts }),
  [RunEventName.modelCall]: (e) => (e.total_usage ? { usage: e.total_usage } : {}),
};

/**
 * The run after `e`, or undefined when `e` changes none of its fields or is
 * already in it (its seq is not after the run's last_seq).
 */
export function runAfterEvent(run: Run, e: RunEvent): Run | undefined {
  if (e.seq <= run.last_seq) return undefined;
  // The map's type ties each type to its change; TypeScript cannot follow
  // that through an indexed call on a union (microsoft/TypeScript#30581).
  const change = CHANGES[e.type] as Change<RunEventType> | undefined;
  const fields = change?.(e, run);
  if (!fields || !Object.keys(fields).length) return undefined;
  return { ...run, ...fields, last_seq: e.seq, updated_at: e.ts };
}
