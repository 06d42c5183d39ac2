// CPU time by process, from /proc: what a measure costs each part (the
// server, the session's af-runner, the commands it reaped, this client),
// which the machine's load does not change the way it changes wall time.
import { readdirSync, readFileSync } from 'node:fs';
import type { Started } from './benchServer';

const TICK_MS = 1000 / 100; // USER_HZ

function ppidOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
}

/** The session's af-runner: the one below this server whose pid namespace ran the most commands (the warm pool keeps idle ones). */
export function runnerOf(s: Started): number {
  const below = (pid: number) => {
    for (let p = pid, i = 0; i < 8 && p > 1; i++) if ((p = ppidOf(p)) === s.child.pid) return true;
    return false;
  };
  let best = 0;
  let bestTicks = -1;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'af-runner' || !below(Number(name))) continue;
      const ticks = childTicks(Number(name));
      if (ticks > bestTicks) [best, bestTicks] = [Number(name), ticks];
    } catch {
      /* exited */
    }
  }
  return best;
}

/** On-CPU time of a process's threads (ns, from schedstat) as ms. */
export function onCpuMs(pid: number): number {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  return ns / 1e6;
}

/** CPU of a process's reaped children (cutime + cstime), in clock ticks. */
export function childTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[13]) + Number(f[14]);
}

export function cpuNow(s: Started): { server: number; runner: number; shells: number; client: number } {
  s.runner ||= runnerOf(s);
  const u = process.cpuUsage();
  return {
    server: onCpuMs(s.child.pid!),
    runner: onCpuMs(s.runner),
    shells: childTicks(s.runner) * TICK_MS,
    client: (u.user + u.system) / 1000,
  };
}
