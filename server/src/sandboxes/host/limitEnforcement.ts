// Which of a sandbox's limits this host can enforce, and how: decided once at
// start-up from what the host offers (root, cgroup v1 or v2, a v2 cgroup
// delegated to the server's user, the Docker engine), logged once, and used
// by the bwrap provider to tighten the runner's rlimits when no cgroup bounds
// a session's memory.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxLimits } from '../sandboxProvider';

const CGROUP_ROOT = '/sys/fs/cgroup';
const CAP_SYS_RESOURCE = 24n;

export interface HostFacts {
  provider: 'bwrap' | 'docker';
  root: boolean;
  cgroupVersion: 1 | 2 | undefined;
  /** The server may create cgroups below its own: root, or a v2 cgroup delegated to its user. */
  cgroupWritable: boolean;
  /** Lowering an OOM score below 0 takes it (the runner's shield). */
  capSysResource: boolean;
}

export type Enforcer = 'cgroup v1' | 'cgroup v2' | 'docker engine' | 'rlimit';

export interface LimitEnforcement {
  provider: HostFacts['provider'];
  memory: Enforcer;
  pids: Enforcer;
  cpu: Enforcer;
  /** Per process, set by af-runner on every command whatever bounds the total. */
  rlimits: string[];
  /** RLIMIT_AS per command process; below limits.addressSpaceBytes when nothing bounds the total. */
  addressSpaceBytes: number;
  /** False when only per-process limits hold: a session may use up to pids x addressSpaceBytes. */
  totalMemoryBounded: boolean;
  /** The runner's OOM score, or why it cannot be lowered (commands get 500 either way). */
  runnerOomScoreAdj: number;
  note?: string;
}

const RLIMITS = ['RLIMIT_NPROC', 'RLIMIT_AS', 'RLIMIT_FSIZE (capped at the disk quota)', 'RLIMIT_CPU', 'RLIMIT_NOFILE', 'RLIMIT_CORE=0'];

/**
 * Per-process address space when nothing bounds a session's total memory: no
 * process may map more than the whole session's memory budget.
 */
export function addressSpaceWithoutCgroup(limits: Pick<SandboxLimits, 'addressSpaceBytes' | 'memoryBytes'>): number {
  return Math.min(limits.addressSpaceBytes, limits.memoryBytes);
}

export function decideEnforcement(facts: HostFacts, limits: Pick<SandboxLimits, 'addressSpaceBytes' | 'memoryBytes'>): LimitEnforcement {
  const runnerOomScoreAdj = facts.capSysResource ? -900 : 0;
  const oomNote = facts.capSysResource ? undefined : 'no CAP_SYS_RESOURCE: the runner stays at OOM score 0, its commands at 500';
  if (facts.provider === 'docker') {
    return {
      provider: 'docker',
      memory: 'docker engine',
      pids: 'docker engine',
      cpu: 'docker engine',
      rlimits: RLIMITS,
      addressSpaceBytes: limits.addressSpaceBytes,
      totalMemoryBounded: true,
      // The engine's own capability decides; the provider falls back to 0 when the engine refuses.
      runnerOomScoreAdj: -900,
    };
  }
  const cgroup: Enforcer | undefined =
    facts.cgroupWritable && facts.cgroupVersion ? (facts.cgroupVersion === 2 ? 'cgroup v2' : 'cgroup v1') : undefined;
  if (cgroup) {
    return {
      provider: 'bwrap',
      memory: cgroup,
      pids: cgroup,
      cpu: cgroup,
      rlimits: RLIMITS,
      addressSpaceBytes: limits.addressSpaceBytes,
      totalMemoryBounded: true,
      runnerOomScoreAdj,
      ...(oomNote ? { note: oomNote } : {}),
    };
  }
  const why = facts.root ? 'no writable cgroup controllers' : 'not root and no cgroup v2 delegated to this user';
  return {
    provider: 'bwrap',
    memory: 'rlimit',
    pids: 'rlimit',
    cpu: 'rlimit',
    rlimits: RLIMITS,
    addressSpaceBytes: addressSpaceWithoutCgroup(limits),
    totalMemoryBounded: false,
    runnerOomScoreAdj,
    note: `${why}: each process may map at most limits.memoryBytes, the processes of a session (RLIMIT_NPROC) are counted per uid, CPU is bounded per process in seconds; a session's total memory is not bounded${oomNote ? `; ${oomNote}` : ''}`,
  };
}

function ownCgroupDir(controller: string, version: 1 | 2): string | undefined {
  try {
    for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const [, ctrls, path] = line.split(':');
      if (ctrls === undefined || path === undefined) continue;
      if (version === 2 && line.startsWith('0::')) return join(CGROUP_ROOT, path);
      if (version === 1 && ctrls.split(',').includes(controller)) return join(CGROUP_ROOT, controller, path);
    }
  } catch {
    /* no /proc/self/cgroup: no cgroups */
  }
  return undefined;
}

function writable(dir: string | undefined): boolean {
  if (!dir) return false;
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function hasCapSysResource(): boolean {
  try {
    const m = /^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << CAP_SYS_RESOURCE)) !== 0n;
  } catch {
    return false;
  }
}

export function probeHostFacts(provider: HostFacts['provider']): HostFacts {
  const root = process.getuid?.() === 0;
  const version = existsSync(join(CGROUP_ROOT, 'cgroup.controllers')) ? 2 : existsSync(join(CGROUP_ROOT, 'memory')) ? 1 : undefined;
  const cgroupWritable = version === 2 ? writable(ownCgroupDir('', 2)) : version === 1 ? writable(ownCgroupDir('memory', 1)) : false;
  return { provider, root, cgroupVersion: version, cgroupWritable, capSysResource: hasCapSysResource() };
}
