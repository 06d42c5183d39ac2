// Which runs finished while no window of their folder was open: their end
// came after the last time a window of the folder was seen, and no window
// has shown or announced them yet. Pure: the notice (awayNotice) keeps the
// times and the ids.
import type { Run } from '@astraforge/contract/runApi';

/** How many announced or shown run ids are kept: more than a list shows. */
export const KNOWN_RUNS_KEPT = 500;

/** Runs to announce: finished (succeeded or failed) in one of `folders` after `seenUntil`, and not known. */
export function finishedWhileAway(
  runs: readonly Run[],
  folders: readonly string[],
  seenUntil: string | undefined,
  known: ReadonlySet<string>,
): Run[] {
  // A folder never seen before has nothing to compare with: its old runs are not news.
  if (seenUntil === undefined) return [];
  const since = Date.parse(seenUntil);
  return runs.filter(
    (r) =>
      (r.status === 'succeeded' || r.status === 'failed') &&
      r.finished_at !== undefined &&
      Date.parse(r.finished_at) > since &&
      r.workspace !== undefined &&
      folders.includes(r.workspace.uri) &&
      !known.has(r.id),
  );
}

/** The known ids with these added, newest last, at most KNOWN_RUNS_KEPT. */
export function withKnown(known: readonly string[], ids: readonly string[]): string[] {
  const added = ids.filter((id) => !known.includes(id));
  if (!added.length) return [...known];
  return [...known, ...added].slice(-KNOWN_RUNS_KEPT);
}

/** "2 runs of app finished while it was not open (1 succeeded, 1 failed); they are ready for review." */
export function awayMessage(runs: readonly Run[], folderName: string): string {
  const succeeded = runs.filter((r) => r.status === 'succeeded').length;
  const failed = runs.length - succeeded;
  if (runs.length === 1) {
    const task = runs[0].task.prompt.split('\n')[0].slice(0, 60);
    return `AstraForge: a run of ${folderName} ${runs[0].status} while it was not open ("${task}"); it is ready for review.`;
  }
  const counts = [succeeded && `${succeeded} succeeded`, failed && `${failed} failed`].filter(Boolean).join(', ');
  return `AstraForge: ${runs.length} runs of ${folderName} finished while it was not open (${counts}); they are ready for review.`;
}
