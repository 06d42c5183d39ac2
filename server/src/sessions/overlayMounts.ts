// Mounting and unmounting overlays with the host's tools: kernel overlayfs
// (mount -t overlay) or fuse-overlayfs, the option syntax both take, and the
// mounts a previous server process left behind.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const FUSE_OVERLAYFS = ['/usr/bin/fuse-overlayfs', '/bin/fuse-overlayfs'];

export function fuseOverlayfs(): string | undefined {
  return FUSE_OVERLAYFS.find((p) => existsSync(p));
}

/** overlayfs splits its options at commas and its lower folders at colons. */
export function escapeOption(path: string): string {
  if (/[,:\\\s]/.test(path)) throw new Error(`a layer path overlayfs cannot take: ${path}`);
  return path;
}

export function unmount(dir: string): void {
  if (spawnSync('umount', [dir], { stdio: 'ignore' }).status === 0) return;
  // Busy (a process of the sandbox not yet reaped): detached now, gone when the last user lets go.
  spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
}

export function mountPointsUnder(root: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const prefix = `${root.replace(/\/$/, '')}/`;
  return text
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p): p is string => !!p && p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}
