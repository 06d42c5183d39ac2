// Which run this folder's window showed, so that a window opened again (a
// reload, VS Code restarted) shows it again. Kept in a file in the
// extension's workspace storage on the extension host's disk, written when
// the run is shown: the workspace state (a Memento) is flushed by the
// window's storage later, and in a browser-hosted VS Code a window closed
// soon after showing a run lost it.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ShownRunMemory {
  get(): string | undefined;
  set(runId: string | undefined): void;
}

const FILE = 'shown-run.json';

/** The memory in `dir` (the extension's storageUri folder); nothing is remembered without one (no folder open). */
export function shownRunMemory(dir: string | undefined): ShownRunMemory | undefined {
  if (!dir) return undefined;
  const file = join(dir, FILE);
  return {
    get() {
      try {
        const v = (JSON.parse(readFileSync(file, 'utf8')) as { run_id?: unknown }).run_id;
        return typeof v === 'string' && v ? v : undefined;
      } catch {
        return undefined; // never written, or written by something else
      }
    },
    set(runId) {
      if (!runId) return void rmSync(file, { force: true });
      mkdirSync(dir, { recursive: true });
      // Whole or not at all: a window closing mid-write leaves the previous one.
      writeFileSync(`${file}.tmp`, JSON.stringify({ run_id: runId }));
      renameSync(`${file}.tmp`, file);
    },
  };
}
