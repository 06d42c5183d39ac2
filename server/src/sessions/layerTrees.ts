// Layer folders on the host, read and shared without mounting them: where a
// path is in a stack of layers (whiteouts counted), a finished writable layer
// cleaned of fuse-overlayfs's own marks, and a layer made a shared read-only
// one (root's files, writable by everyone, inside a folder only root enters).
import { rmSync, readdirSync, lstatSync, chmodSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Where a path of layered folders (bottom first) is on the host, as an
 * overlay would show it: the topmost layer that has it, unless that one
 * deleted it (a whiteout).
 */
export function resolveInLayers(lowers: readonly string[], rel: string): string | undefined {
  for (let i = lowers.length - 1; i >= 0; i--) {
    const path = join(lowers[i], rel);
    try {
      return lstatSync(path).isCharacterDevice() ? undefined : path;
    } catch {
      /* not in this layer */
    }
  }
  return undefined;
}

/**
 * fuse-overlayfs marks every folder it creates opaque, with files of its own
 * (.wh..wh..opq, and a .wh..opq whiteout). Over a folder no layer below has,
 * that says nothing: the marks go, so the layer reads the same to every
 * tool (the kernel's overlayfs would show them as files).
 */
export function dropRedundantOpaqueMarks(upper: string, lowers: readonly string[], rel = ''): void {
  for (const e of readdirSync(join(upper, rel), { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (!resolveInLayers(lowers, path)) {
      for (const mark of ['.wh..wh..opq', '.wh..opq']) rmSync(join(upper, path, mark), { force: true });
    }
    dropRedundantOpaqueMarks(upper, lowers, path);
  }
}

/** A finished writable layer as a shared read-only one: root's files, writable by everyone (inside a folder only root enters). */
export async function makeSharedLayer(layer: string): Promise<void> {
  if (process.getuid?.() === 0) await execFileAsync('chown', ['-R', '--no-dereference', '0:0', layer]);
  await openLayerToAll(layer);
}

/** Every file and folder of a layer writable by everyone (a layer the server unpacked itself, so already its own). */
export async function openLayerToAll(layer: string): Promise<void> {
  await execFileAsync('chmod', ['-R', 'a+rwX', layer]);
  chmodSync(layer, 0o755);
}
