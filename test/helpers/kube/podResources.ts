// A "pod"'s resources as a kubelet applies them: the container's limits
// (memory, cpu) and the node's pod pids limit become a cgroup the pod's
// processes start in, so a pod that outgrows its template is OOM-killed or
// throttled as on a node. The cgroup is the server's own per-session kind
// (cgroup v1 or v2, where this process may make one: root, or a delegated v2).
import { createSessionCgroup, type SessionCgroup } from '../../../server/src/sandboxes/host/sessionCgroup';

export interface ContainerResources {
  limits?: Record<string, string | number>;
  requests?: Record<string, string | number>;
}

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** A Kubernetes quantity ("2Gi", "512M", "250m", "1e3", 2) as a number, or undefined when it is none. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.exec(q.trim());
  if (!m) return undefined;
  const unit = m[2] ?? '';
  return Number(m[1]) * (BINARY[unit] ?? DECIMAL[unit]);
}

export interface PodLimits {
  memoryBytes?: number;
  cpus?: number;
  pids: number;
}

/** What a kubelet enforces for a one-container pod: the container's limits, and the node's podPidsLimit. */
export function podLimits(resources: ContainerResources | undefined, podPidsLimit: number): PodLimits {
  const memory = parseQuantity(resources?.limits?.memory);
  const cpu = parseQuantity(resources?.limits?.cpu);
  return {
    memoryBytes: memory === undefined ? undefined : Math.floor(memory),
    cpus: cpu,
    pids: podPidsLimit,
  };
}

/** The pod's cgroup, or undefined where this process cannot make one (the runner's rlimits still hold). */
export function podCgroup(name: string, limits: PodLimits): SessionCgroup | undefined {
  return createSessionCgroup(`kube-double-${process.pid}/${name}`, {
    // Unbounded dimensions get values no pod reaches: the kernel's own "max" is not one the helper writes.
    memoryBytes: limits.memoryBytes ?? 2 ** 50,
    cpus: limits.cpus ?? 1024,
    pids: limits.pids,
  });
}
