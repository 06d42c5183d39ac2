// Runs on the local disk: <dir>/<run id>/{run.json, events.jsonl, diff.json}.
// The event log is append-only JSON lines; a torn last line (a crash in the
// middle of a write) is ignored on read.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isDurableRunEvent, Run, RunDiff, type RunEvent } from '@astraforge/contract/runApi';
import type { RunPage, RunPageQuery, RunStore } from './runStore';

const ID_PATTERN = /^[a-z0-9]{6,64}$/;

export class FileRunStore implements RunStore {
  private readonly runs = new Map<string, Run>();
  private readonly logFds = new Map<string, number>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const id of readdirSync(dir)) {
      try {
        this.runs.set(id, Run.parse(JSON.parse(readFileSync(join(dir, id, 'run.json'), 'utf8'))));
      } catch {
        /* a run folder without a readable record is skipped, not fatal */
      }
    }
  }

  private runDir(id: string): string {
    if (!ID_PATTERN.test(id)) throw new Error(`bad run id ${id}`);
    return join(this.dir, id);
  }

  saveRun(run: Run): void {
    const dir = this.runDir(run.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeAtomic(join(dir, 'run.json'), JSON.stringify(run));
    this.runs.set(run.id, run);
  }

  getRun(id: string): Run | undefined {
    return this.runs.get(id);
  }

  allRuns(): Run[] {
    return [...this.runs.values()];
  }

  listRuns({ limit, cursor, workspaceUri }: RunPageQuery): RunPage {
    const runs =
      workspaceUri === undefined
        ? this.allRuns()
        : this.allRuns().filter((r) => r.workspace?.uri === workspaceUri || r.source !== undefined);
    const sorted = runs.sort((a, b) => keyOf(b).localeCompare(keyOf(a)));
    const start = cursor ? sorted.findIndex((r) => keyOf(r) < cursor) : 0;
    if (start < 0) return { runs: [] };
    const page = sorted.slice(start, start + limit);
    const more = start + limit < sorted.length;
    return { runs: page, nextCursor: more ? keyOf(page[page.length - 1]) : undefined };
  }

  appendEvents(runId: string, events: RunEvent[]): void {
    let fd = this.logFds.get(runId);
    if (fd === undefined) {
      mkdirSync(this.runDir(runId), { recursive: true, mode: 0o700 });
      fd = openSync(join(this.runDir(runId), 'events.jsonl'), 'a', 0o600);
      this.logFds.set(runId, fd);
    }
    if (events.length) writeSync(fd, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    if (events.some((e) => isDurableRunEvent(e.type))) fsyncSync(fd);
  }

  readEvents(runId: string, afterSeq: number): RunEvent[] {
    const file = join(this.runDir(runId), 'events.jsonl');
    if (!existsSync(file)) return [];
    const out: RunEvent[] = [];
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      let e: RunEvent;
      try {
        e = JSON.parse(line);
      } catch {
        continue; // torn tail after a crash
      }
      if (e.seq > afterSeq) out.push(e);
    }
    return out;
  }

  rewriteEvents(runId: string, events: RunEvent[]): void {
    this.closeRun(runId);
    writeAtomic(join(this.runDir(runId), 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + (events.length ? '\n' : ''));
  }

  saveDiff(runId: string, diff: RunDiff): void {
    writeAtomic(join(this.runDir(runId), 'diff.json'), JSON.stringify(diff));
  }

  getDiff(runId: string): RunDiff | undefined {
    const file = join(this.runDir(runId), 'diff.json');
    return existsSync(file) ? RunDiff.parse(JSON.parse(readFileSync(file, 'utf8'))) : undefined;
  }

  closeRun(runId: string): void {
    const fd = this.logFds.get(runId);
    if (fd === undefined) return;
    fsyncSync(fd);
    closeSync(fd);
    this.logFds.delete(runId);
  }
}

function keyOf(run: Run): string {
  return `${run.created_at}|${run.id}`;
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  writeSync(fd, text);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, file);
}
