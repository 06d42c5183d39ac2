// Where runs, their event logs and their diffs are kept. The file store is
// the local implementation; a shared deployment can put the same interface
// on PostgreSQL.
import type { Run, RunDiff, RunEvent } from '@astraforge/contract/runApi';

/** Which runs a page holds: at most `limit`, after `cursor`, of one workspace folder or all. */
export interface RunPageQuery {
  limit: number;
  cursor?: string;
  /** A workspace folder's URI: only its runs. */
  workspaceUri?: string;
}

export interface RunPage {
  runs: Run[];
  nextCursor?: string;
}

export interface RunStore {
  saveRun(run: Run): void;
  getRun(id: string): Run | undefined;
  /** Newest first. */
  listRuns(query: RunPageQuery): RunPage;
  allRuns(): Run[];
  /** Appends in order; on disk before returning when any of them is durable (isDurableRunEvent: state changes, the terminal event). */
  appendEvents(runId: string, events: RunEvent[]): void;
  /** Events with seq > afterSeq, in order. */
  readEvents(runId: string, afterSeq: number): RunEvent[];
  /** Replaces the log (compaction); the events keep their seq numbers. */
  rewriteEvents(runId: string, events: RunEvent[]): void;
  saveDiff(runId: string, diff: RunDiff): void;
  getDiff(runId: string): RunDiff | undefined;
  /** Releases whatever the store holds open for a run that has finished. */
  closeRun(runId: string): void;
}
