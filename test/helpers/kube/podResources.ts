// A "pod"'s resources as a kubelet applies them: the container's limits
// (memory, cpu) and the node's pod pids limit become a cgroup the pod's
// processes start in, so a pod that outgrows its template is OOM-killed or
// throttled as on a node. The cgroup is the server's own per-session kind
// (cgroup v1 or v2, where this process may make one: root, or a delegated v2).
import { createSessionCgroup, type SessionCgroup } from '../../../server/src/sandboxes/host/sessionCgroup';
import { parseQuantity } from '../../../server/src/sandboxes/kubernetes/podMetrics';

export { parseQuantity };

export interface ContainerResources {
  limits?: Record<string, string | number>;
  requests?: Record<string, string | number>;
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
  // One parent for every double's pods (each pod's group goes with it), named per process so two doubles never meet.
  return createSessionCgroup(`kube-double/${process.pid}-${name}`, {
    // Unbounded dimensions get values no pod reaches: the kernel's own "max" is not one the helper writes.
    memoryBytes: limits.memoryBytes ?? 2 ** 50,
    cpus: limits.cpus ?? 1024,
    pids: limits.pids,
  });
}
