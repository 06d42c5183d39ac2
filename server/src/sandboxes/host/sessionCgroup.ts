// Per-session cgroups: memory, pids and CPU limits and real usage figures.
// cgroup v2 where the server's cgroup is delegated, v1 where the controllers
// are mounted writable (as on these machines), and a v2 cgroup delegated to a
// non-root server's user; neither is required, because the runner's rlimits
// remain the floor (see limitEnforcement.ts).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';
const GROUP = 'astraforge';

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
  cpus: number;
}

export interface SessionCgroup {
  readonly version: 1 | 2;
  /** Whether the group's memory limit took: otherwise only per-process rlimits bound memory. */
  readonly boundsMemory: boolean;
  addProcess(pid: number): void;
  memoryBytes(): number;
  memoryLimit(): number | undefined;
  cpuUsageUsec(): number;
  /** Kills every process left in the group and removes it. */
  remove(): void;
}

function ownPath(controller: string): string | undefined {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, ctrls, path] = line.split(':');
    if (ctrls === undefined || path === undefined) continue;
    if (controller === '' ? ctrls === '' && line.startsWith('0::') : ctrls.split(',').includes(controller)) return path;
  }
  return undefined;
}

function write(file: string, value: string | number): boolean {
  try {
    writeFileSync(file, String(value));
    return true;
  } catch {
    return false;
  }
}

function readNumber(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

function killAndRemove(dir: string): void {
  if (!existsSync(dir)) return;
  for (let i = 0; i < 20; i++) {
    let pids: string[] = [];
    try {
      pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return;
    }
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    try {
      rmdirSync(dir);
      return;
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // processes are still exiting
    }
  }
}

class V1Cgroup implements SessionCgroup {
  readonly version = 1 as const;
  constructor(
    private readonly dirs: Record<'memory' | 'pids' | 'cpu' | 'cpuacct', string | undefined>,
    readonly boundsMemory: boolean,
  ) {}
  addProcess(pid: number): void {
    for (const dir of new Set(Object.values(this.dirs))) if (dir) write(join(dir, 'cgroup.procs'), pid);
  }
  memoryBytes(): number {
    return this.dirs.memory ? readNumber(join(this.dirs.memory, 'memory.usage_in_bytes')) : 0;
  }
  memoryLimit(): number | undefined {
    return this.dirs.memory ? readNumber(join(this.dirs.memory, 'memory.limit_in_bytes')) : undefined;
  }
  cpuUsageUsec(): number {
    return this.dirs.cpuacct ? Math.round(readNumber(join(this.dirs.cpuacct, 'cpuacct.usage')) / 1000) : 0;
  }
  remove(): void {
    for (const dir of new Set(Object.values(this.dirs))) if (dir) killAndRemove(dir);
  }
}

class V2Cgroup implements SessionCgroup {
  readonly version = 2 as const;
  constructor(
    private readonly dir: string,
    readonly boundsMemory: boolean,
  ) {}
  addProcess(pid: number): void {
    write(join(this.dir, 'cgroup.procs'), pid);
  }
  memoryBytes(): number {
    return readNumber(join(this.dir, 'memory.current'));
  }
  memoryLimit(): number | undefined {
    return readNumber(join(this.dir, 'memory.max')) || undefined;
  }
  cpuUsageUsec(): number {
    try {
      const m = /usage_usec (\d+)/.exec(readFileSync(join(this.dir, 'cpu.stat'), 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }
  remove(): void {
    if (!write(join(this.dir, 'cgroup.kill'), 1)) killAndRemove(this.dir);
    else killAndRemove(this.dir);
  }
}

function v1Parent(controller: string): string | undefined {
  const mount = join(ROOT, controller);
  const own = ownPath(controller);
  if (own === undefined || !existsSync(join(mount, 'cgroup.procs'))) return undefined;
  return join(mount, own, GROUP);
}

function createV1(name: string, limits: CgroupLimits): SessionCgroup | undefined {
  const make = (controller: string): string | undefined => {
    const parent = v1Parent(controller);
    if (!parent) return undefined;
    try {
      const dir = join(parent, name);
      mkdirSync(dir, { recursive: true });
      return dir;
    } catch {
      return undefined;
    }
  };
  const dirs = { memory: make('memory'), pids: make('pids'), cpu: make('cpu'), cpuacct: make('cpuacct') };
  if (!dirs.memory && !dirs.pids && !dirs.cpu) return undefined;
  let boundsMemory = false;
  if (dirs.memory) {
    boundsMemory = write(join(dirs.memory, 'memory.limit_in_bytes'), limits.memoryBytes);
    write(join(dirs.memory, 'memory.memsw.limit_in_bytes'), limits.memoryBytes); // no escape into swap
  }
  if (dirs.pids) write(join(dirs.pids, 'pids.max'), limits.pids);
  if (dirs.cpu) {
    write(join(dirs.cpu, 'cpu.cfs_period_us'), 100000);
    write(join(dirs.cpu, 'cpu.cfs_quota_us'), Math.round(limits.cpus * 100000));
  }
  return new V1Cgroup(dirs, boundsMemory);
}

let v2Prepared: string | undefined | null = null;

/** In v2 a cgroup with processes cannot delegate controllers, so the server moves itself into a leaf first. */
function prepareV2(): string | undefined {
  if (v2Prepared !== null) return v2Prepared;
  v2Prepared = undefined;
  const own = ownPath('');
  if (own === undefined) return undefined;
  const base = join(ROOT, own);
  try {
    const serverLeaf = join(base, 'astraforge-server');
    mkdirSync(serverLeaf, { recursive: true });
    for (const pid of readFileSync(join(base, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      write(join(serverLeaf, 'cgroup.procs'), pid);
    }
    write(join(base, 'cgroup.subtree_control'), '+memory +pids +cpu');
    const group = join(base, GROUP);
    mkdirSync(group, { recursive: true });
    write(join(group, 'cgroup.subtree_control'), '+memory +pids +cpu');
    v2Prepared = group;
  } catch {
    v2Prepared = undefined;
  }
  return v2Prepared;
}

function createV2(name: string, limits: CgroupLimits): SessionCgroup | undefined {
  const group = prepareV2();
  if (!group) return undefined;
  const dir = join(group, name);
  try {
    mkdirSync(dir, { recursive: true });
  } catch {
    return undefined;
  }
  const boundsMemory = write(join(dir, 'memory.max'), limits.memoryBytes);
  write(join(dir, 'memory.swap.max'), 0);
  write(join(dir, 'pids.max'), limits.pids);
  write(join(dir, 'cpu.max'), `${Math.round(limits.cpus * 100000)} 100000`);
  return new V2Cgroup(dir, boundsMemory);
}

function isV2(): boolean {
  return existsSync(join(ROOT, 'cgroup.controllers'));
}

/** A cgroup for one session, where the host lets the server make one (root, or a delegated v2 cgroup). */
export function createSessionCgroup(name: string, limits: CgroupLimits): SessionCgroup | undefined {
  if (process.getuid?.() !== 0 && !isV2()) return undefined; // v1 is never delegated to a user
  return isV2() ? createV2(name, limits) : createV1(name, limits);
}

/** Removes the session cgroups a previous process of this server (this instance) left behind. */
export function removeLeftoverCgroups(instanceId: string): void {
  const groups = isV2() ? [prepareV2()] : ['memory', 'pids', 'cpu', 'cpuacct'].map(v1Parent);
  for (const group of new Set(groups)) {
    if (!group) continue;
    const parent = join(group, instanceId);
    if (!existsSync(parent)) continue;
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      if (entry.isDirectory()) killAndRemove(join(parent, entry.name));
    }
  }
}
