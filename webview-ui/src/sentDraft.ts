// The view's saved state can come back older than the view was: VS Code
// writes it now and then, and a reload can come before the last write. A
// draft restored that way may be a task already sent; it is not offered
// again once the run list shows a run started with it.
import type { Run } from '@astraforge/contract/runApi';

/** Whether `draft` is the task (or, for the command agent, the command) of one of these runs. */
export function wasSent(draft: string, runs: readonly Run[]): boolean {
  const text = draft.trim();
  return text !== '' && runs.some((r) => r.task.prompt.trim() === text || r.task.command?.trim() === text);
}
