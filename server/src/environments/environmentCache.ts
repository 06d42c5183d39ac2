// Environments kept on the server: <root>/<key>/{layer, info.json}, one per
// key, reused by every run with that key until evicted. Over the configured
// size the least recently used go first, never one a live workspace stands on
// nor the one just built.
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const KEY = /^[a-f0-9]{32}$/;

export interface CachedEnvironment {
  key: string;
  /** The read-only layer: what setup changed in the workspace. */
  layer: string;
  source: string;
  bytes: number;
  created_at: string;
}

export interface EvictedEnvironment {
  key: string;
  bytes: number;
}

export class EnvironmentCache {
  private readonly pins = new Map<string, number>();
  private readonly grew = new Set<() => void>();

  /** `root` holds layers only the server (root) enters: sandboxes see them through their overlay. */
  constructor(
    private readonly root: string,
    private readonly maxBytes: number,
  ) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    chmodSync(root, 0o700);
    for (const name of readdirSync(root)) {
      // Builds an earlier process left unfinished.
      if (!KEY.test(name) || !existsSync(join(root, name, 'info.json'))) rmSync(join(root, name), { recursive: true, force: true });
    }
  }

  /** The kept environment of `key`, marked as used now. */
  get(key: string): CachedEnvironment | undefined {
    if (!KEY.test(key)) return undefined;
    const info = join(this.root, key, 'info.json');
    try {
      const env = JSON.parse(readFileSync(info, 'utf8')) as Omit<CachedEnvironment, 'layer'>;
      const now = new Date();
      utimesSync(info, now, now);
      return { ...env, layer: join(this.root, key, 'layer') };
    } catch {
      return undefined;
    }
  }

  /** A fresh folder for a build of `key`, on the cache's file system (its result is renamed into place). */
  buildDir(key: string): string {
    if (!KEY.test(key)) throw new Error(`not an environment key: ${key}`);
    const dir = join(this.root, `.build-${key}-${process.pid}-${Date.now()}`);
    mkdirSync(dir, { mode: 0o755 });
    return dir;
  }

  /** Keeps a finished build as the environment of `key`; returns what eviction removed to stay within the size. */
  async put(key: string, built: string, source: string): Promise<{ env: CachedEnvironment; evicted: EvictedEnvironment[] }> {
    const dir = join(this.root, key);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    renameSync(built, join(dir, 'layer'));
    const bytes = await diskBytes(join(dir, 'layer'));
    const info = { key, source, bytes, created_at: new Date().toISOString() };
    writeFileSync(join(dir, 'info.json'), JSON.stringify(info));
    const evicted = this.evict(key);
    for (const listener of this.grew) listener();
    return { env: { ...info, layer: join(dir, 'layer') }, evicted };
  }

  /** Called when an environment has been kept. */
  onGrow(listener: () => void): void {
    this.grew.add(listener);
  }

  /** A live workspace stands on it. */
  inUse(key: string): boolean {
    return this.pins.has(key);
  }

  /** Removes a kept environment nothing stands on (the next run with its key sets up again); whether it did. */
  remove(key: string): boolean {
    if (!KEY.test(key) || this.pins.has(key) || !existsSync(join(this.root, key))) return false;
    rmSync(join(this.root, key), { recursive: true, force: true });
    return true;
  }

  discard(buildDir: string): void {
    rmSync(buildDir, { recursive: true, force: true });
  }

  pin(key: string): void {
    this.pins.set(key, (this.pins.get(key) ?? 0) + 1);
  }

  unpin(key: string): void {
    const n = (this.pins.get(key) ?? 0) - 1;
    if (n > 0) this.pins.set(key, n);
    else this.pins.delete(key);
  }

  /** Every kept environment, least recently used first. */
  list(): (CachedEnvironment & { lastUsedMs: number })[] {
    const out: (CachedEnvironment & { lastUsedMs: number })[] = [];
    for (const key of readdirSync(this.root)) {
      if (!KEY.test(key)) continue;
      try {
        const info = join(this.root, key, 'info.json');
        const env = JSON.parse(readFileSync(info, 'utf8')) as Omit<CachedEnvironment, 'layer'>;
        out.push({ ...env, layer: join(this.root, key, 'layer'), lastUsedMs: statSync(info).mtimeMs });
      } catch {
        /* half-removed */
      }
    }
    return out.sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  }

  /** Removes the least recently used until the total fits (`keep` and pinned ones stay). */
  private evict(keep: string): EvictedEnvironment[] {
    const all = this.list();
    let total = all.reduce((n, e) => n + e.bytes, 0);
    const evicted: EvictedEnvironment[] = [];
    for (const e of all) {
      if (total <= this.maxBytes) break;
      if (e.key === keep || this.pins.has(e.key)) continue;
      rmSync(join(this.root, e.key), { recursive: true, force: true });
      total -= e.bytes;
      evicted.push({ key: e.key, bytes: e.bytes });
    }
    return evicted;
  }
}

async function diskBytes(dir: string): Promise<number> {
  const { stdout } = await execFileAsync('du', ['-sb', dir]);
  return Number(stdout.split('\t')[0]) || 0;
}
