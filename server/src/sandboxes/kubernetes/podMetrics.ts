// A pod's usage as the cluster measures it: metrics.k8s.io's PodMetrics
// (metrics-server), found through the claim's Sandbox (agent-sandbox names
// its pod in an annotation). Memory is the pod's working set as the node
// sees it, the same figure the kubelet's eviction and the OOM killer use;
// CPU there is a rate over the scrape window, so the cumulative CPU time a
// session reports stays the runner's own measure.
import type { ClaimClient } from './claimClient';

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

export interface PodMetricsSample {
  memoryBytes: number;
  cpuNanoCores: number;
}

interface PodMetricsObject {
  containers?: { usage?: { cpu?: string; memory?: string } }[];
}

/** The summed usage of a PodMetrics object's containers, or undefined when it names none. */
export function sampleOf(obj: unknown): PodMetricsSample | undefined {
  const containers = (obj as PodMetricsObject | undefined)?.containers;
  if (!Array.isArray(containers) || containers.length === 0) return undefined;
  let memoryBytes = 0;
  let cpuNanoCores = 0;
  for (const c of containers) {
    const memory = parseQuantity(c.usage?.memory);
    const cpu = parseQuantity(c.usage?.cpu);
    if (memory === undefined || cpu === undefined) return undefined;
    memoryBytes += memory;
    cpuNanoCores += cpu * 1e9;
  }
  return { memoryBytes: Math.round(memoryBytes), cpuNanoCores: Math.round(cpuNanoCores) };
}

/**
 * The PodMetrics of a claim's pod, or undefined where the cluster has none for it (no
 * metrics-server, the pod not scraped yet, no right to read them): the caller falls back.
 */
export class PodMetricsReader {
  private readonly pods = new Map<string, string>();

  constructor(private readonly client: ClaimClient) {}

  async read(sandboxName: string): Promise<PodMetricsSample | undefined> {
    try {
      let pod = this.pods.get(sandboxName);
      if (!pod) {
        pod = await this.client.podOf(sandboxName);
        this.pods.set(sandboxName, pod);
      }
      return sampleOf(await this.client.podMetrics(pod));
    } catch {
      return undefined;
    }
  }

  forget(sandboxName: string): void {
    this.pods.delete(sandboxName);
  }
}
