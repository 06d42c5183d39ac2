// Which sandboxes on this host are this server's: the id goes into container
// labels and cgroup folders. It comes from the data folder, so a server that
// restarts on the same folder finds (and removes) what its crashed
// predecessor left, and servers on other folders never touch each other's.
import { createHash } from 'node:crypto';

export function instanceIdOf(dataDir: string): string {
  return createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
}
