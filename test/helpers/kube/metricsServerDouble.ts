// metrics-server's double: every interval, a PodMetrics object (metrics.k8s.io)
// for each running pod, from its cgroup as the kubelet's summary gives it:
// memory in use now, and CPU as a rate over the time since the last scrape.
import type { SessionCgroup } from '../../../server/src/sandboxes/host/sessionCgroup';
import type { KubeApiServer } from './kubeApiServer';

/** A pod as metrics-server sees it. */
export interface MeasuredPod {
  namespace: string;
  name: string;
  cgroup: SessionCgroup | undefined;
  isReady: boolean;
}

export class MetricsServerDouble {
  private timer: NodeJS.Timeout | undefined;
  private readonly lastCpu = new Map<string, { usec: number; at: number }>();

  constructor(
    private readonly api: KubeApiServer,
    private readonly intervalMs: number,
    private readonly pods: () => Iterable<MeasuredPod>,
  ) {}

  start(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => this.scrape(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A pod that is gone: its PodMetrics goes with it. */
  forget(namespace: string, name: string): void {
    this.lastCpu.delete(name);
    try {
      this.api.store.delete(this.api.kind('PodMetrics'), namespace, name);
    } catch {
      // never scraped
    }
  }

  private scrape(): void {
    const kind = this.api.kind('PodMetrics');
    for (const pod of this.pods()) {
      const cgroup = pod.cgroup;
      if (!cgroup || !pod.isReady) continue;
      const now = Date.now();
      const usec = cgroup.cpuUsageUsec();
      const last = this.lastCpu.get(pod.name);
      this.lastCpu.set(pod.name, { usec, at: now });
      const nanocores = last && now > last.at ? Math.round(((usec - last.usec) * 1000) / ((now - last.at) / 1000)) : 0;
      const metrics = {
        metadata: { name: pod.name, namespace: pod.namespace, labels: {} },
        timestamp: new Date(now).toISOString().replace(/\.\d+Z$/, 'Z'),
        window: `${Math.max(1, Math.round(this.intervalMs / 1000))}s`,
        containers: [
          { name: 'sandbox', usage: { cpu: `${Math.max(0, nanocores)}n`, memory: `${Math.ceil(cgroup.memoryBytes() / 1024)}Ki` } },
        ],
      };
      try {
        const current = this.api.store.get(kind, pod.namespace, pod.name);
        this.api.store.update(kind, pod.namespace, { ...metrics, metadata: { ...current.metadata, resourceVersion: undefined } }, 'main');
      } catch {
        this.api.store.create(kind, pod.namespace, metrics);
      }
    }
  }
}
