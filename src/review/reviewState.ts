// What the user decided in a review, kept in the workspace state so it
// survives closing editors and reloading the window: per run, each file's
// decision and the changes they rejected; and which review was open.
import type * as vscode from 'vscode';

export type Decision = 'pending' | 'accepted' | 'rejected';

const DECISIONS_KEY = 'astraforge.review.decisions';
const REJECTED_KEY = 'astraforge.review.rejectedHunks';
const OPEN_KEY = 'astraforge.review.open';

type PerRun<T> = Record<string, Record<string, T>>;

export class ReviewState {
  constructor(private readonly memento: vscode.Memento) {}

  decision(runId: string, path: string): Decision {
    return this.memento.get<PerRun<Decision>>(DECISIONS_KEY, {})[runId]?.[path] ?? 'pending';
  }

  async decide(runId: string, paths: readonly string[], decision: Decision): Promise<void> {
    const all = this.memento.get<PerRun<Decision>>(DECISIONS_KEY, {});
    const run = { ...(all[runId] ?? {}) };
    for (const p of paths) run[p] = decision;
    await this.memento.update(DECISIONS_KEY, { ...all, [runId]: run });
  }

  /** Keys of the changes to a file the user rejected (see hunkKey). */
  rejectedHunks(runId: string, path: string): Set<string> {
    return new Set(this.memento.get<PerRun<string[]>>(REJECTED_KEY, {})[runId]?.[path] ?? []);
  }

  async rejectHunk(runId: string, path: string, key: string): Promise<void> {
    const all = this.memento.get<PerRun<string[]>>(REJECTED_KEY, {});
    const run = { ...(all[runId] ?? {}) };
    run[path] = [...new Set([...(run[path] ?? []), key])];
    await this.memento.update(REJECTED_KEY, { ...all, [runId]: run });
  }

  /** The review to reopen after a reload. */
  openReview(): { runId: string; folder: string } | undefined {
    return this.memento.get<{ runId: string; folder: string }>(OPEN_KEY);
  }

  setOpenReview(review: { runId: string; folder: string } | undefined): Thenable<void> {
    return this.memento.update(OPEN_KEY, review);
  }
}
