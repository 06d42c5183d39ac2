// Host-side views of sandbox processes through /proc: descendants of a pid,
// processes owned by a uid, and their resource usage (when no cgroup is available).
import { readdirSync, readFileSync } from 'node:fs';

interface ProcStat {
  pid: number;
  ppid: number;
  uid: number;
  rssPages: number;
  cpuTicks: number;
}

const PAGE = 4096;
const TICKS_PER_SEC = 100;

function readProc(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uidLine = /^Uid:\s+(\d+)/m.exec(status);
    return {
      pid,
      ppid: Number(rest[1]),
      uid: uidLine ? Number(uidLine[1]) : -1,
      cpuTicks: Number(rest[11]) + Number(rest[12]),
      rssPages: Number(rest[21]),
    };
  } catch {
    return undefined; // it exited while we looked
  }
}

function allProcs(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

/** A process and all its descendants, read from /proc/PID/task/TID/children (a few reads, not a /proc scan). */
export function descendantsOf(root: number): number[] {
  const found: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    found.push(pid);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // exited
    }
    for (const tid of tasks) {
      try {
        for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) {
          if (child.trim()) queue.push(Number(child));
        }
      } catch {
        /* exited */
      }
    }
  }
  return found;
}

export function usageOfTree(root: number): { memoryBytes: number; cpuUsageUsec: number } {
  const pids = new Set(descendantsOf(root));
  let rss = 0;
  let ticks = 0;
  for (const p of allProcs()) {
    if (!pids.has(p.pid)) continue;
    rss += p.rssPages;
    ticks += p.cpuTicks;
  }
  return { memoryBytes: rss * PAGE, cpuUsageUsec: Math.round((ticks * 1e6) / TICKS_PER_SEC) };
}

/** SIGKILLs every process whose real uid is one of these (sandbox uids are never shared with anything else). */
export function killProcessesOfUids(uids: Iterable<number>): number {
  const wanted = new Set(uids);
  wanted.delete(process.getuid?.() ?? 0); // a non-root server shares its uid with its sandboxes: never kill itself
  let killed = 0;
  for (const p of allProcs()) {
    if (!wanted.has(p.uid) || p.uid === 0) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
      killed++;
    } catch {
      /* already gone */
    }
  }
  return killed;
}
