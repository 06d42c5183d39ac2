// Where runs, their event logs and their diffs are kept. The file store is
// the local implementation; a shared deployment can put the same interface
// on PostgreSQL.
import type { Run, RunDiff, RunEvent } from '../contract/runApi';

export interface RunPage {
  runs: Run[];
  nextCursor?: string;
}

export interface RunStore {
  saveRun(run: Run): void;
  getRun(id: string): Run | undefined;
  /** Newest first. */
  listRuns(limit: number, cursor?: string): RunPage;
  allRuns(): Run[];
  /** Appends in order; `durable` forces the log to disk before returning (state changes, the terminal event). */
  appendEvents(runId: string, events: RunEvent[], durable: boolean): void;
  /** Events with seq > afterSeq, in order. */
  readEvents(runId: string, afterSeq: number): RunEvent[];
  /** Replaces the log (compaction); the events keep their seq numbers. */
  rewriteEvents(runId: string, events: RunEvent[]): void;
  saveDiff(runId: string, diff: RunDiff): void;
  getDiff(runId: string): RunDiff | undefined;
  /** Releases whatever the store holds open for a run that has finished. */
  closeRun(runId: string): void;
}
