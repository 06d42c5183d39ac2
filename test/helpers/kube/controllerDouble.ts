// The agent-sandbox controller's double: keeps each SandboxWarmPool's ready
// pods, and binds each SandboxClaim to a pod (a warm one when the pool has
// one and the claim sets no env, else a cold start), creating its Sandbox and
// setting the claim's status as agent-sandbox does (`status.sandbox.name`,
// `podIPs`, a Ready condition). The claim's additionalPodMetadata reaches the
// pod's downward-API annotations file, also on a warm pod it adopts.
// Failures a real cluster shows (unschedulable, image pull errors, a pod
// that never gets ready) can be triggered for tests. `lifecycle.shutdownTime`
// is enforced (Delete, or Retain with a ClaimExpired condition).
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeApiServer } from './kubeApiServer';
import type { Change, KubeObject } from './objectStore';
import { PodProcess, type PodSpecLike } from './podProcess';
import { MetricsServerDouble } from './metricsServerDouble';
import { podNetwork } from './podNetwork';

export type InjectedFailure = 'Unschedulable' | 'ImagePullBackOff' | 'NeverReady';

export interface ControllerOptions {
  api: KubeApiServer;
  runnerBinary: string;
  /** The image's other files (its entrypoint, the runtime API): host file -> path in the pod. */
  imageFiles?: { host: string; path: string }[];
  /** Where pods keep their emptyDirs. */
  dir: string;
  bwrapPath?: string;
  /** How long a pod may take to answer its readiness probe. */
  podReadyTimeoutMs?: number;
  /** The node's pod pids limit (kubelet's podPidsLimit); pods also get their container's memory and cpu limits as cgroups. */
  podPidsLimit?: number;
  /** How often each claimed pod's PodMetrics is written from its cgroup, as metrics-server scrapes (0: never). */
  podMetricsIntervalMs?: number;
}

interface Pod {
  name: string;
  ip: string;
  proc: PodProcess;
  ready: Promise<boolean>;
  /** Set once the readiness probe passed. */
  isReady: boolean;
  templateAnnotations: Record<string, string>;
}

interface Spec {
  warmPoolRef?: { name: string };
  sandboxTemplateRef?: { name: string };
  replicas?: number;
  podTemplate?: { spec: PodSpecLike; metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> } };
  additionalPodMetadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  env?: unknown[];
  lifecycle?: { shutdownTime?: string; shutdownPolicy?: string };
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export class ControllerDouble {
  private readonly warm = new Map<string, Pod[]>();
  private readonly bound = new Map<string, Pod>();
  /** The Sandbox object of each bound claim (a warm one keeps its pool's name). */
  private readonly sandboxOf = new Map<string, string>();
  private readonly expiries = new Map<string, NodeJS.Timeout>();
  private readonly failures: InjectedFailure[] = [];
  private queue: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private readonly metrics: MetricsServerDouble;
  private stopped = false;
  /** How claims were served, for tests and the bench. */
  readonly launches = { warm: 0, cold: 0 };

  constructor(private readonly o: ControllerOptions) {
    mkdirSync(o.dir, { recursive: true });
    // Pods run as an unprivileged host uid: it must reach its own folder (the API's key beside it stays 0600).
    for (let d = o.dir; d !== '/' && d !== '/tmp'; d = join(d, '..')) chmodSync(d, 0o711);
    chmodSync(o.dir, 0o755);
    this.metrics = new MetricsServerDouble(o.api, o.podMetricsIntervalMs ?? 1000, () =>
      [...this.bound].map(([key, pod]) => ({
        namespace: key.split('/')[0]!,
        name: pod.name,
        cgroup: pod.proc.cgroup,
        isReady: pod.isReady,
      })),
    );
  }

  start(): void {
    this.unsubscribe = this.o.api.store.subscribe((c) => this.enqueue(() => this.onChange(c)));
    for (const pool of this.o.api.store.list(this.o.api.kind('SandboxWarmPool'), undefined)) {
      this.enqueue(() => this.reconcilePool(pool.metadata.namespace!, pool.metadata.name));
    }
    this.metrics.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.metrics.stop();
    for (const t of this.expiries.values()) clearTimeout(t);
    await this.queue.catch(() => undefined);
    const pods = [...this.bound.values(), ...[...this.warm.values()].flat()];
    await Promise.all(pods.map((p) => p.proc.stop()));
  }

  /** The next claims fail this way, in order (one failure per claim). */
  failNext(...f: InjectedFailure[]): void {
    this.failures.push(...f);
  }

  /** The pod serving a claim (tests look at its process). */
  podOf(namespace: string, claim: string): PodProcess | undefined {
    return this.bound.get(`${namespace}/${claim}`)?.proc;
  }

  /** Ready warm pods of a pool. */
  warmReady(namespace: string, pool: string): number {
    const pods = this.warm.get(`${namespace}/${pool}`) ?? [];
    return pods.filter((p) => p.isReady && p.proc.alive).length;
  }

  private enqueue(fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((e: Error) => {
      process.stderr.write(`controller double: ${e.stack ?? e.message}\n`);
    });
  }

  private async onChange(c: Change): Promise<void> {
    if (this.stopped) return;
    const ns = c.object.metadata.namespace!;
    const name = c.object.metadata.name;
    if (c.kind.kind === 'SandboxWarmPool') {
      if (c.type === 'DELETED') await this.drainPool(`${ns}/${name}`);
      else await this.reconcilePool(ns, name);
    } else if (c.kind.kind === 'SandboxClaim') {
      if (c.type === 'ADDED') await this.claim(c.object);
      if (c.type === 'DELETED') await this.release(ns, name);
    }
  }

  private find(kind: string, ns: string, name: string | undefined): KubeObject | undefined {
    if (!name) return undefined;
    try {
      return this.o.api.store.get(this.o.api.kind(kind), ns, name);
    } catch {
      return undefined;
    }
  }

  private startPod(prefix: string, template: KubeObject): Pod {
    const spec = (template.spec as Spec).podTemplate!;
    const name = `${prefix}-${randomBytes(3).toString('hex')}`;
    const network = podNetwork();
    const ip = network.podIp;
    const proc = new PodProcess({
      name,
      network,
      spec: spec.spec,
      dir: join(this.o.dir, name),
      runnerBinary: this.o.runnerBinary,
      imageFiles: this.o.imageFiles,
      bwrapPath: this.o.bwrapPath,
      podPidsLimit: this.o.podPidsLimit,
    });
    const templateAnnotations = spec.metadata?.annotations ?? {};
    proc.start();
    proc.setAnnotations(templateAnnotations);
    const pod: Pod = { name, ip, proc, ready: this.waitReady(proc), isReady: false, templateAnnotations };
    void pod.ready.then((ok) => (pod.isReady = ok));
    return pod;
  }

  private async waitReady(proc: PodProcess): Promise<boolean> {
    const deadline = Date.now() + (this.o.podReadyTimeoutMs ?? 20_000);
    while (Date.now() < deadline && proc.alive) {
      if (await proc.probe()) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  private async reconcilePool(ns: string, name: string): Promise<void> {
    const pool = this.find('SandboxWarmPool', ns, name);
    if (!pool) return;
    const spec = pool.spec as Spec;
    const template = this.find('SandboxTemplate', ns, spec.sandboxTemplateRef?.name);
    const key = `${ns}/${name}`;
    const pods = this.warm.get(key) ?? [];
    this.warm.set(key, pods);
    if (template) {
      while (pods.length < (spec.replicas ?? 1)) {
        const pod = this.startPod(name, template);
        pods.push(pod);
        // The pool's status follows its pods without holding the queue while they start.
        void pod.ready.then(() => this.enqueue(async () => this.poolStatus(ns, name)));
      }
      while (pods.length > (spec.replicas ?? 1)) await pods.pop()!.proc.stop();
    }
    this.poolStatus(ns, name);
  }

  private poolStatus(ns: string, name: string): void {
    const pods = this.warm.get(`${ns}/${name}`) ?? [];
    const ready = pods.filter((p) => p.isReady && p.proc.alive).length;
    this.setStatus('SandboxWarmPool', ns, name, {
      replicas: pods.length,
      readyReplicas: ready,
      selector: `agents.x-k8s.io/warm-pool-sandbox=${name}`,
    });
  }

  private async drainPool(key: string): Promise<void> {
    const pods = this.warm.get(key) ?? [];
    this.warm.delete(key);
    await Promise.all(pods.map((p) => p.proc.stop()));
  }

  private setStatus(kind: string, ns: string, name: string, status: unknown): void {
    const current = this.find(kind, ns, name);
    if (!current) return;
    this.o.api.store.update(
      this.o.api.kind(kind),
      ns,
      { ...current, metadata: { ...current.metadata, resourceVersion: undefined }, status },
      'status',
    );
  }

  private notReady(claim: KubeObject, reason: string, message: string): void {
    const ns = claim.metadata.namespace!;
    this.setStatus('SandboxClaim', ns, claim.metadata.name, {
      conditions: [
        { type: 'Ready', status: 'False', reason, message, lastTransitionTime: now(), observedGeneration: claim.metadata.generation },
      ],
    });
  }

  private async claim(claim: KubeObject): Promise<void> {
    const ns = claim.metadata.namespace!;
    const name = claim.metadata.name;
    const spec = claim.spec as Spec;
    this.scheduleExpiry(ns, name, spec.lifecycle);
    const failure = this.failures.shift();
    if (failure === 'Unschedulable') {
      return this.notReady(
        claim,
        'DependenciesNotReady',
        `Pod ${name} is Pending: PodScheduled=False (Unschedulable): 0/3 nodes are available: 3 Insufficient memory.`,
      );
    }
    if (failure === 'ImagePullBackOff') {
      return this.notReady(
        claim,
        'DependenciesNotReady',
        `Pod ${name} is Pending: container sandbox is waiting (ImagePullBackOff): Back-off pulling image "astraforge/sandbox:missing"`,
      );
    }
    if (failure === 'NeverReady') {
      return this.notReady(
        claim,
        'DependenciesNotReady',
        `Pod ${name} is Running: Ready=False (ContainersNotReady): containers with unready status: [sandbox]`,
      );
    }
    const restricted = Object.keys({ ...spec.additionalPodMetadata?.labels, ...spec.additionalPodMetadata?.annotations }).find((k) =>
      /(^|\.)(kubernetes\.io|k8s\.io|agents\.x-k8s\.io)\//.test(k),
    );
    if (restricted)
      return this.notReady(claim, 'InvalidMetadata', `invalid additionalPodMetadata: key "${restricted}" uses a restricted domain`);
    const poolName = spec.warmPoolRef?.name;
    const pool = this.find('SandboxWarmPool', ns, poolName);
    if (!pool) return this.notReady(claim, 'WarmPoolNotFound', `SandboxWarmPool "${poolName}" not found`);
    const templateName = (pool.spec as Spec).sandboxTemplateRef?.name;
    const template = this.find('SandboxTemplate', ns, templateName);
    if (!template) return this.notReady(claim, 'TemplateNotFound', `SandboxTemplate "${templateName}" not found in namespace "${ns}"`);
    const poolKey = `${ns}/${poolName}`;
    let pod: Pod | undefined;
    let launch = 'cold';
    // A claim with env is always cold-started (agent-sandbox's rule); otherwise a ready warm pod is adopted.
    if (!spec.env?.length) {
      const pods = this.warm.get(poolKey) ?? [];
      for (let i = 0; i < pods.length; i++) {
        if (pods[i].proc.alive && pods[i].isReady) {
          pod = pods.splice(i, 1)[0];
          launch = 'warm';
          break;
        }
      }
      if (pod) this.enqueue(() => this.reconcilePool(ns, poolName!));
    }
    pod ??= this.startPod(name, template);
    this.launches[launch === 'warm' ? 'warm' : 'cold']++;
    this.bound.set(`${ns}/${name}`, pod);
    pod.proc.setAnnotations({ ...pod.templateAnnotations, ...(spec.additionalPodMetadata?.annotations ?? {}) });
    const sandboxKind = this.o.api.kind('Sandbox');
    // Ready is awaited outside the queue: other claims are served meanwhile.
    void pod.ready.then((ok) =>
      this.enqueue(async () => {
        if (this.bound.get(`${ns}/${name}`) !== pod || !this.find('SandboxClaim', ns, name)) return;
        if (!ok)
          return this.notReady(
            claim,
            'DependenciesNotReady',
            `Pod ${pod.name} is not ready: ${pod.proc.logs.trim() || 'readiness probe failed'}`,
          );
        // A warm pod's Sandbox keeps the name the pool gave it (agent-sandbox adopts it); a cold one takes the claim's.
        const sandboxName = launch === 'warm' ? pod.name : name;
        this.sandboxOf.set(`${ns}/${name}`, sandboxName);
        const sandbox =
          this.find('Sandbox', ns, sandboxName) ??
          this.o.api.store.create(sandboxKind, ns, {
            metadata: {
              name: sandboxName,
              labels: { 'agents.x-k8s.io/launch-type': launch, ...(spec.additionalPodMetadata?.labels ?? {}) },
              annotations: { 'agents.x-k8s.io/pod-name': pod.name, 'agents.x-k8s.io/sandbox-template-ref': templateName! },
              ownerReferences: [{ apiVersion: claim.apiVersion, kind: 'SandboxClaim', name, uid: claim.metadata.uid, controller: true }],
            },
            spec: { podTemplate: (template.spec as Spec).podTemplate },
          });
        const ready = {
          type: 'Ready',
          status: 'True',
          reason: 'DependenciesReady',
          message: 'Pod is Ready; Service Exists',
          lastTransitionTime: now(),
        };
        this.setStatus('Sandbox', ns, sandbox.metadata.name, {
          conditions: [{ ...ready, observedGeneration: 1 }],
          podIPs: [pod.ip],
          service: sandboxName,
          serviceFQDN: `${sandboxName}.${ns}.svc.cluster.local`,
          nodeName: 'double-node',
        });
        this.setStatus('SandboxClaim', ns, name, {
          conditions: [{ ...ready, observedGeneration: claim.metadata.generation }],
          sandbox: { name: sandbox.metadata.name, podIPs: [pod.ip] },
        });
      }),
    );
  }

  private scheduleExpiry(ns: string, name: string, lifecycle: Spec['lifecycle']): void {
    if (!lifecycle?.shutdownTime) return;
    const delay = Math.max(0, Date.parse(lifecycle.shutdownTime) - Date.now());
    const t = setTimeout(
      () =>
        this.enqueue(async () => {
          this.expiries.delete(`${ns}/${name}`);
          const claim = this.find('SandboxClaim', ns, name);
          if (!claim) return;
          if ((lifecycle.shutdownPolicy ?? 'Retain') === 'Retain') {
            await this.release(ns, name);
            this.notReady(claim, 'ClaimExpired', 'the claim reached its shutdownTime');
          } else {
            this.o.api.store.delete(this.o.api.kind('SandboxClaim'), ns, name);
          }
        }),
      Math.min(delay, 2 ** 31 - 1),
    );
    t.unref();
    this.expiries.set(`${ns}/${name}`, t);
  }

  private async release(ns: string, name: string): Promise<void> {
    clearTimeout(this.expiries.get(`${ns}/${name}`));
    const pod = this.bound.get(`${ns}/${name}`);
    this.bound.delete(`${ns}/${name}`);
    const sandboxName = this.sandboxOf.get(`${ns}/${name}`) ?? name;
    this.sandboxOf.delete(`${ns}/${name}`);
    if (this.find('Sandbox', ns, sandboxName)) this.o.api.store.delete(this.o.api.kind('Sandbox'), ns, sandboxName);
    if (pod) this.metrics.forget(ns, pod.name);
    await pod?.proc.stop();
  }
}
