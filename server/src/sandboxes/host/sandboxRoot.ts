// Where the host folders that sandboxes mount (workspaces, the runner, /etc
// files) live. bwrap opens mount sources as the sandbox's unprivileged uid, so
// every folder on the way there must be traversable by others; a data folder
// under a private home (/root is 0700) is not, so those folders move to
// /var/lib/astraforge then. Listing stays forbidden (0711) all the way.
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

function traversableByOthers(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (d === dirname(d)) return true;
  }
}

export function runsAsRoot(): boolean {
  return process.getuid?.() === 0;
}

export function sandboxRootFor(dataDir: string): string {
  if (!runsAsRoot()) return dataDir; // sandboxes run as the server's own user: nothing to traverse
  chmodSync(dataDir, 0o711);
  if (traversableByOthers(dataDir)) return dataDir;
  const alt = join('/var/lib/astraforge', createHash('sha256').update(dataDir).digest('hex').slice(0, 12));
  mkdirSync(alt, { recursive: true, mode: 0o711 });
  chmodSync('/var/lib/astraforge', 0o711);
  chmodSync(alt, 0o711);
  return alt;
}
