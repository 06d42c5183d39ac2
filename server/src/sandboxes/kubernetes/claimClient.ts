// The provider's only way to the cluster: SandboxClaims in one namespace,
// through @kubernetes/client-node (kubeconfig or in-cluster service
// account). Create, list (with the list's resourceVersion), watch from a
// resourceVersion, merge-patch, delete; errors carry the API's Status. Read
// only: a claim's Sandbox (for its pod's name) and that pod's PodMetrics.
import { readFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';

export const CLAIM_GROUP = 'extensions.agents.x-k8s.io';
export const CLAIM_VERSION = 'v1beta1';
export const CLAIM_PLURAL = 'sandboxclaims';
export const SANDBOX_GROUP = 'agents.x-k8s.io';
/** agent-sandbox's annotation on a Sandbox naming its pod (an adopted warm pod keeps its own name). */
export const POD_NAME_ANNOTATION = 'agents.x-k8s.io/pod-name';
const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface SandboxClaim {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: Record<string, unknown>;
  status?: { conditions?: Condition[]; sandbox?: { name?: string; podIPs?: string[] } };
}

export interface ClaimList {
  items: SandboxClaim[];
  resourceVersion: string;
}

export type WatchEvent =
  { type: 'ADDED' | 'MODIFIED' | 'DELETED'; claim: SandboxClaim } | { type: 'BOOKMARK'; resourceVersion: string } | { type: 'GONE' };

/** An API call that failed: the HTTP code and the Status message, when the server sent one. */
export class KubeCallError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The extension kinds besides claims the provider reads (and makes, for sandbox sizes). */
export type ExtensionPlural = 'sandboxtemplates' | 'sandboxwarmpools';

/** An object as the API returns it: its metadata and spec, unchecked. */
export interface KubeObjectOf {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
}

export interface KubeTarget {
  /** A kubeconfig file; unset: KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig?: string;
  /** Unset: the kubeconfig context's namespace, or the service account's. */
  namespace?: string;
}

function clientNode(): typeof k8s {
  // Loaded only when the kubernetes provider is chosen: it stays out of the bundle (see scripts/build.mjs).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@kubernetes/client-node') as typeof k8s;
}

export class ClaimClient {
  readonly namespace: string;
  readonly server: string;
  private readonly api: k8s.CustomObjectsApi;
  private readonly watcher: k8s.Watch;
  private readonly lib: typeof k8s;

  constructor(target: KubeTarget) {
    this.lib = clientNode();
    const kc = new this.lib.KubeConfig();
    if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
    else kc.loadFromDefault();
    const context = kc.getContextObject(kc.getCurrentContext());
    this.namespace = target.namespace ?? context?.namespace ?? inClusterNamespace() ?? 'default';
    this.server = kc.getCurrentCluster()?.server ?? '(no cluster)';
    this.api = kc.makeApiClient(this.lib.CustomObjectsApi);
    this.watcher = new this.lib.Watch(kc);
  }

  private base() {
    return { group: CLAIM_GROUP, version: CLAIM_VERSION, namespace: this.namespace, plural: CLAIM_PLURAL };
  }

  async create(claim: SandboxClaim): Promise<SandboxClaim> {
    return call(() => this.api.createNamespacedCustomObject({ ...this.base(), body: claim })) as Promise<SandboxClaim>;
  }

  async list(selector: { labelSelector?: string; fieldSelector?: string }): Promise<ClaimList> {
    const res = (await call(() => this.api.listNamespacedCustomObject({ ...this.base(), ...selector }))) as {
      items: SandboxClaim[];
      metadata?: { resourceVersion?: string };
    };
    return { items: res.items ?? [], resourceVersion: res.metadata?.resourceVersion ?? '' };
  }

  async mergePatch(name: string, patch: object): Promise<void> {
    const options = this.lib.setHeaderOptions('Content-Type', this.lib.PatchStrategy.MergePatch);
    await call(() => this.api.patchNamespacedCustomObject({ ...this.base(), name, body: patch }, options));
  }

  /** The pod behind a Sandbox: the one its annotation names, else the Sandbox's own name (agent-sandbox's rule). */
  async podOf(sandboxName: string): Promise<string> {
    const sandbox = (await call(() =>
      this.api.getNamespacedCustomObject({
        group: SANDBOX_GROUP,
        version: CLAIM_VERSION,
        namespace: this.namespace,
        plural: 'sandboxes',
        name: sandboxName,
      }),
    )) as { metadata?: { annotations?: Record<string, string> } };
    return sandbox.metadata?.annotations?.[POD_NAME_ANNOTATION] ?? sandboxName;
  }

  /** metrics.k8s.io's PodMetrics of a pod (metrics-server's last scrape). */
  async podMetrics(pod: string): Promise<unknown> {
    return call(() =>
      this.api.getNamespacedCustomObject({
        group: 'metrics.k8s.io',
        version: 'v1beta1',
        namespace: this.namespace,
        plural: 'pods',
        name: pod,
      }),
    );
  }

  /** An object of another agent-sandbox extension kind (sandboxtemplates, sandboxwarmpools) in the namespace. */
  async getExtension(plural: ExtensionPlural, name: string): Promise<KubeObjectOf> {
    return call(() => this.api.getNamespacedCustomObject({ ...this.base(), plural, name })) as Promise<KubeObjectOf>;
  }

  /** Creates an object of another extension kind; false when one of that name exists already (409). */
  async createExtension(plural: ExtensionPlural, body: object): Promise<boolean> {
    try {
      await call(() => this.api.createNamespacedCustomObject({ ...this.base(), plural, body }));
      return true;
    } catch (e) {
      if (e instanceof KubeCallError && e.code === 409) return false;
      throw e;
    }
  }

  /** Deletes a claim; one already gone is no error. */
  async delete(name: string): Promise<void> {
    try {
      await call(() => this.api.deleteNamespacedCustomObject({ ...this.base(), name, propagationPolicy: 'Background' }));
    } catch (e) {
      if (!(e instanceof KubeCallError) || e.code !== 404) throw e;
    }
  }

  /**
   * Watches the claims a field selector names from `resourceVersion`, with
   * bookmarks; `onEvent` gets each change, GONE when the resourceVersion is
   * too old (410: list again). Resolves to a stop function; `onEnd` runs when
   * the server ends the watch.
   */
  async watch(
    fieldSelector: string,
    resourceVersion: string,
    onEvent: (e: WatchEvent) => void,
    onEnd: (err?: Error) => void,
  ): Promise<() => void> {
    const path = `/apis/${CLAIM_GROUP}/${CLAIM_VERSION}/namespaces/${this.namespace}/${CLAIM_PLURAL}`;
    const controller = await this.watcher.watch(
      path,
      { fieldSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 },
      (phase: string, obj: unknown) => {
        const o = obj as SandboxClaim & { code?: number; message?: string; metadata?: { resourceVersion?: string } };
        if (phase === 'ERROR')
          return o.code === 410 ? onEvent({ type: 'GONE' }) : onEnd(new KubeCallError(o.code ?? 0, o.message ?? 'watch error'));
        if (phase === 'BOOKMARK') return onEvent({ type: 'BOOKMARK', resourceVersion: o.metadata?.resourceVersion ?? resourceVersion });
        if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') onEvent({ type: phase, claim: o });
      },
      (err: unknown) => onEnd(err ? (err as Error) : undefined),
    );
    return () => controller.abort();
  }
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const err = e as { code?: number; body?: unknown; message?: string };
    if (typeof err.code !== 'number') throw new KubeCallError(0, `cannot reach the Kubernetes API: ${err.message ?? String(e)}`);
    throw new KubeCallError(err.code, statusMessage(err.body) ?? err.message ?? `HTTP ${err.code}`);
  }
}

function statusMessage(body: unknown): string | undefined {
  try {
    const s = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string; reason?: string };
    return s?.message ? `${s.reason ? `${s.reason}: ` : ''}${s.message}` : undefined;
  } catch {
    return typeof body === 'string' && body ? body.slice(0, 300) : undefined;
  }
}

function inClusterNamespace(): string | undefined {
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
