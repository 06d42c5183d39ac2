// A snapshot layer's folder, <root>/<id>/: ready.json once the layer is made
// (its lowers and baseline; its mtime is the layer's last use) and
// bytes.json once measured (its own disk use, for the snapshot cap).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SnapshotBaseline } from '../runs/hostWorkspaceDiffer';

export interface SnapshotLayer {
  id: string;
  /** The snapshot's files as read-only layers, bottom first: a tree, and a delta over it when derived. Root's files, writable by everyone, in folders only root enters. */
  lowers: string[];
  baseline: SnapshotBaseline;
}

/** A kept layer's disk use and last use, for the snapshot cap. */
export interface SnapshotLayerUsage {
  id: string;
  /** Its own bytes: not those of the tree it stands on or shares hard links with (0 until measured). */
  bytes: number;
  lastUsedMs: number;
  /** A live workspace, a layer over it or a derivation stands on it. */
  inUse: boolean;
}

export const LAYER_ID = /^[a-f0-9]{24}$/;
const execFileAsync = promisify(execFile);

/** The layer in `<root>/<id>` if it is made. */
export function readyLayerIn(root: string, id: string): SnapshotLayer | undefined {
  if (!LAYER_ID.test(id)) return undefined;
  try {
    const ready = JSON.parse(readFileSync(join(root, id, 'ready.json'), 'utf8')) as Omit<SnapshotLayer, 'id'>;
    return { id, lowers: ready.lowers, baseline: ready.baseline };
  } catch {
    return undefined;
  }
}

/** Marks the layer made: from now on it is kept (and counted) as it is. */
export function markReady(root: string, layer: SnapshotLayer): void {
  writeFileSync(join(root, layer.id, 'ready.json'), JSON.stringify({ lowers: layer.lowers, baseline: layer.baseline }));
}

/** When the layer in `dir` was made or last used (0: not made). */
export function readyTime(dir: string): number {
  try {
    return statSync(join(dir, 'ready.json')).mtimeMs;
  } catch {
    return 0;
  }
}

/** The layer in `dir` is used now. */
export function touchLayer(dir: string): void {
  const now = new Date();
  try {
    utimesSync(join(dir, 'ready.json'), now, now);
  } catch {
    /* removed meanwhile */
  }
}

export function measuredBytes(dir: string): number {
  try {
    return (JSON.parse(readFileSync(join(dir, 'bytes.json'), 'utf8')) as { bytes: number }).bytes;
  } catch {
    return 0;
  }
}

/**
 * Measures the layer in `dir` (what it shares with `sharesWith` by hard
 * links not counted) into bytes.json; whether it did (not when the layer
 * went meanwhile). Throws when du fails.
 */
export async function measureLayer(dir: string, sharesWith: string | undefined): Promise<boolean> {
  const args = sharesWith && existsSync(sharesWith) ? ['-sb', sharesWith, dir] : ['-sb', dir];
  const { stdout } = await execFileAsync('du', args, { maxBuffer: 1024 * 1024 });
  const lines = stdout.trim().split('\n');
  const bytes = Number(lines[lines.length - 1]!.split('\t')[0]) || 0;
  if (!existsSync(join(dir, 'ready.json'))) return false;
  writeFileSync(join(dir, 'bytes.json'), JSON.stringify({ bytes }));
  return true;
}
