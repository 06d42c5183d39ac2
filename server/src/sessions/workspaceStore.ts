// Host folders behind /workspace. Persistent workspaces (named by clients with
// workspace_id) outlive sessions; a session without one gets a scratch folder
// removed with it. Each folder is owned by the uid of the sandbox using it.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';

const execFileAsync = promisify(execFile);

const WorkspaceMeta = z.object({ id: z.string(), created_at: z.string(), host_uid: z.number().int() });
type WorkspaceMeta = z.infer<typeof WorkspaceMeta>;

/**
 * A workspace folder is its sandbox uid's alone: work done on the host as
 * another session's uid (that session's diff, with links its agent planted)
 * cannot read into it.
 */
const WORKSPACE_MODE = 0o700;

export class WorkspaceStore {
  private readonly persistentDir: string;
  readonly scratchDir: string;
  private readonly layersRoot: string;

  constructor(dataDir: string) {
    this.persistentDir = join(dataDir, 'workspaces');
    this.scratchDir = join(dataDir, 'scratch');
    this.layersRoot = join(dataDir, 'layers');
    // 0711: sandbox uids may pass through to their own folder, never list the others.
    for (const d of [this.persistentDir, this.scratchDir]) {
      mkdirSync(d, { recursive: true });
      chmodSafe(d, 0o711);
    }
  }

  /** A folder for workspace layers of one kind (snapshots, environments, sessions' writable layers), beside the workspaces. */
  layersDir(name: string): string {
    mkdirSync(this.layersRoot, { recursive: true });
    chmodSafe(this.layersRoot, 0o711);
    return join(this.layersRoot, name);
  }

  private metaFile(id: string): string {
    return join(this.persistentDir, `${id}.json`);
  }

  folderOf(id: string): string {
    return join(this.persistentDir, id);
  }

  get(id: string): WorkspaceMeta | undefined {
    try {
      return WorkspaceMeta.parse(JSON.parse(readFileSync(this.metaFile(id), 'utf8')));
    } catch {
      return undefined;
    }
  }

  /** Opens (creating if needed) a persistent workspace; it keeps the uid it was first given. */
  openPersistent(id: string, allocateUid: () => number): WorkspaceMeta & { dir: string; created: boolean } {
    const existing = this.get(id);
    const dir = this.folderOf(id);
    if (existing && existsSync(dir)) {
      chmodSafe(dir, WORKSPACE_MODE); // folders made before workspaces were private
      return { ...existing, dir, created: false };
    }
    const meta: WorkspaceMeta = { id, created_at: new Date().toISOString(), host_uid: allocateUid() };
    mkdirSync(dir, { recursive: true, mode: WORKSPACE_MODE });
    chownIfRoot(dir, meta.host_uid);
    writeFileSync(this.metaFile(id), JSON.stringify(meta), { mode: 0o600 });
    return { ...meta, dir, created: true };
  }

  createScratch(sessionId: string, uid: number): string {
    const dir = join(this.scratchDir, sessionId);
    mkdirSync(dir, { recursive: true, mode: WORKSPACE_MODE });
    chownIfRoot(dir, uid);
    return dir;
  }

  /** Gives a seeded workspace's files to the sandbox's uid (nothing in the sandbox runs yet). */
  async handOver(dir: string, uid: number): Promise<void> {
    if (process.getuid?.() === 0) await execFileAsync('chown', ['-R', '--no-dereference', `${uid}:${uid}`, dir]);
  }

  removeScratch(sessionId: string): void {
    rmSync(join(this.scratchDir, sessionId), { recursive: true, force: true });
  }

  list(): (WorkspaceMeta & { size_bytes: number })[] {
    const out: (WorkspaceMeta & { size_bytes: number })[] = [];
    for (const name of readdirSync(this.persistentDir)) {
      if (!name.endsWith('.json')) continue;
      const meta = this.get(name.slice(0, -5));
      if (meta) out.push({ ...meta, size_bytes: folderSize(this.folderOf(meta.id)) });
    }
    return out.sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  persistentUids(): number[] {
    return this.list().map((w) => w.host_uid);
  }

  delete(id: string): boolean {
    if (!this.get(id)) return false;
    rmSync(this.folderOf(id), { recursive: true, force: true });
    rmSync(this.metaFile(id), { force: true });
    return true;
  }

  scratchIds(): string[] {
    return readdirSync(this.scratchDir);
  }
}

function chownIfRoot(dir: string, uid: number): void {
  if (process.getuid?.() === 0) chownSync(dir, uid, uid);
}

function chmodSafe(dir: string, mode: number): void {
  try {
    chmodSync(dir, mode);
  } catch {
    /* not ours to change */
  }
}

function folderSize(dir: string, budget = { files: 100_000 }): number {
  let total = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (budget.files-- <= 0) break;
    const p = join(dir, e.name);
    if (e.isDirectory()) total += folderSize(p, budget);
    else if (e.isFile()) {
      try {
        total += statSync(p).size;
      } catch {
        /* vanished */
      }
    }
  }
  return total;
}
