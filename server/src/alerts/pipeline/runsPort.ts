// What alerts need of the run service and the snapshot store, called in
// process: the same calls POST /api/runs and /api/snapshots make, so an
// alert's run is a normal run that every client lists, streams and reviews.
import type { FileContents, CreateRunRequest, RunSource, Run, RunDiff, RunEvent } from '@astraforge/contract/runApi';

export interface RunsPort {
  create(req: CreateRunRequest, serverSet?: { source?: RunSource; model?: string }): Run;
  get(id: string): Run;
  diff(id: string): RunDiff;
  cancel(id: string): Run;
  proposedFiles(id: string, paths: readonly string[]): Promise<FileContents>;
  follow(id: string, afterSeq: number, onEvent: (e: RunEvent) => void): { past: RunEvent[]; unsubscribe: () => void };
}

export interface SnapshotsPort {
  ingest(body: NodeJS.ReadableStream, opts: { gzip: boolean }): Promise<{ snapshot_id: string }>;
}
