// The processes this test process started that are still there, by name
// (read from /proc): a test that refuses an upload checks no tar is left.
import { readdirSync, readFileSync } from 'node:fs';

/** Pids of this process's children whose command name is `comm`. */
export function childrenNamed(comm: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ")".
      const close = stat.lastIndexOf(')');
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (stat.slice(stat.indexOf('(') + 1, close) === comm && ppid === process.pid) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}
