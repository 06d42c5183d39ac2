// The Kubernetes provider: one SandboxClaim per session (agent-sandbox's
// extensions.agents.x-k8s.io), bound by the controller to a pod from the
// named warm pool's SandboxTemplate (runc, gVisor or Kata by runtimeClass;
// a session that asks for less memory or CPU, a pool of its size:
// sizedPools.ts).
// The pod's entrypoint is af-runner listening on TCP; the provider connects
// with the session's token and then talks to it exactly as the bubblewrap
// and Docker providers do over stdio, so sessions behave the same on all
// three. The claim is deleted when the session ends; claims labelled with
// this server that no session owns are deleted at start-up.
import { randomBytes } from 'node:crypto';
import type { RunnerClient } from '../runnerProtocol';
import { SandboxError } from '../sandboxError';
import type { Sandbox, SandboxLimits, SandboxProvider, SandboxSpec } from '../sandboxProvider';
import { ClaimClient, type KubeTarget } from './claimClient';
import { waitForReadyClaim } from './claimReadiness';
import { claimFor, instanceSelector, shutdownTime } from './claimSpec';
import { pushWorkspace } from './podWorkspace';
import type { PodWorkspaces } from './podWorkspaceDiffer';
import { connectRunner, tcpDial, type RunnerEndpoint } from './runnerConnection';
import { GatewayBridges, routeSourceTo } from './gatewayBridge';
import { openRouterTunnel } from './routerTunnel';
import { PodMetricsReader } from './podMetrics';
import { KubernetesSandbox, type PodOwner } from './kubernetesSandbox';
import { SizedPools } from './sizedPools';

/** The sandbox image's runtime API port (the templates' AF_RUNTIME_API_PORT), where the router's tunnel ends. */
const RUNTIME_API_PORT = 8888;

/** Names Sandkasten and toolkit clients ask for; the default pool's image has what each promises. */
const SDK_IMAGE_NAMES = ['base', 'python', 'node', 'sandbox-runtime:base', 'sandbox-runtime:python', 'sandbox-runtime:node'];

export interface KubernetesProviderOptions extends KubeTarget {
  instanceId: string;
  /** The SandboxWarmPool of image "default" (and of the SDK names). */
  warmPool: string;
  /** More image names, each mapped to a warm pool (the gVisor and Kata tiers). */
  pools?: Record<string, string>;
  /** The port af-runner listens on in the pod (the template's --listen). */
  runnerPort: number;
  /** How long a claim may take to be Ready and its runner to answer. */
  readyTimeoutSeconds: number;
  /** The claim's shutdownTime is this far ahead, renewed while the session lives: a crashed server's claims expire by themselves. */
  claimLeaseSeconds: number;
  /** The port pods reach the model gateway on, at the server's pod-network address (0: any free one). */
  gatewayBridgePort: number;
  /** agent-sandbox's router: runners are reached through it (X-Sandbox-ID/-Namespace/-Port) instead of at their pod IPs. */
  router?: KubernetesRouter;
  log?: (obj: Record<string, unknown>, msg: string) => void;
}

export interface KubernetesRouter {
  /** The router's Service URL, e.g. http://sandbox-router-svc.agent-sandbox-system.svc:8080. */
  url: string;
  /** The router's ROUTER_AUTH_TOKEN, sent as a bearer token. */
  token?: string;
  /** The pod port it connects to: the runtime API's, which bridges to af-runner (8888). */
  port?: number;
}

export class KubernetesProvider implements SandboxProvider, PodWorkspaces, PodOwner {
  readonly name = 'kubernetes';
  private readonly client: ClaimClient;
  private readonly live = new Map<string, KubernetesSandbox>();
  private readonly bridges: GatewayBridges;
  private readonly sizes: SizedPools;
  /** @internal the cluster's own measure of each pod, where it has metrics-server. */
  readonly metrics: PodMetricsReader;

  constructor(private readonly opts: KubernetesProviderOptions) {
    this.client = new ClaimClient(opts);
    this.metrics = new PodMetricsReader(this.client);
    this.bridges = new GatewayBridges(opts.gatewayBridgePort);
    this.sizes = new SizedPools(this.client, opts.log);
  }

  /** Loads the configuration and checks the API answers, or fails with what to do. */
  static async connect(opts: KubernetesProviderOptions): Promise<KubernetesProvider> {
    let provider: KubernetesProvider;
    try {
      provider = new KubernetesProvider(opts);
    } catch (e) {
      throw new SandboxError(
        'START_FAILED',
        `no Kubernetes configuration (${(e as Error).message}): set KUBECONFIG or kubernetes.kubeconfig, or run in a cluster`,
      );
    }
    try {
      await provider.client.list({ labelSelector: instanceSelector(opts.instanceId) });
    } catch (e) {
      throw new SandboxError(
        'START_FAILED',
        `cannot list SandboxClaims in namespace "${provider.client.namespace}" at ${provider.client.server} (${(e as Error).message}): is agent-sandbox installed (with its extensions) and may this account use sandboxclaims?`,
      );
    }
    return provider;
  }

  get namespace(): string {
    return this.client.namespace;
  }

  images(): string[] {
    return ['default', ...SDK_IMAGE_NAMES, ...Object.keys(this.opts.pools ?? {})];
  }

  private poolOf(image: string): string | undefined {
    if (image === 'default' || SDK_IMAGE_NAMES.includes(image)) return this.opts.warmPool;
    return this.opts.pools?.[image];
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const tier = this.poolOf(spec.image);
    if (!tier) throw new SandboxError('INVALID_IMAGE', `unknown image "${spec.image}"; available: ${this.images().join(', ')}`);
    const pool = spec.askedSize
      ? await this.sizes.poolFor(tier, spec.askedSize).catch((e: Error) => {
          throw new SandboxError('START_FAILED', e.message);
        })
      : tier;
    const token = randomBytes(32).toString('base64url');
    const claim = claimFor({
      sessionId: spec.sessionId,
      instanceId: this.opts.instanceId,
      warmPool: pool,
      token,
      leaseSeconds: this.opts.claimLeaseSeconds,
    });
    const name = claim.metadata.name;
    const started = Date.now();
    const deadline = started + this.opts.readyTimeoutSeconds * 1000;
    try {
      await this.client.create(claim);
    } catch (e) {
      throw new SandboxError('START_FAILED', `cannot create SandboxClaim "${name}": ${(e as Error).message}`);
    }
    try {
      const created = Date.now();
      const ready = await waitForReadyClaim(this.client, name, this.opts.readyTimeoutSeconds * 1000);
      const readyAt = Date.now();
      const relay = spec.attachments?.loopbackRelay;
      const { socket, runner } = await connectRunner(
        {
          ...this.runnerRoute(ready.podIP, ready.sandboxName),
          token,
          lineSuffix: async () =>
            `${relay ? await this.relaySuffix(ready.podIP, relay.hostSocket, relay.port) : ''}${limitsSuffix(spec.limits)}`,
        },
        deadline,
      );
      const sandbox = new KubernetesSandbox(this, name, ready.sandboxName, socket, runner, spec);
      await requireImageFiles(runner, spec.attachments?.readOnlyFiles ?? []).catch(async (e: Error) => {
        await sandbox.destroy();
        throw e;
      });
      await pushWorkspace(runner, spec.workspaceDir, (abs, file) => sandbox.writeFileFromHost(abs, file));
      this.live.set(spec.workspaceDir, sandbox);
      const timings = { create_ms: created - started, ready_ms: readyAt - created, connect_ms: Date.now() - readyAt };
      this.opts.log?.(
        { session_id: spec.sessionId, claim: name, sandbox: ready.sandboxName, pod_ip: ready.podIP, ...timings },
        'sandbox claim ready',
      );
      return sandbox;
    } catch (e) {
      await this.client.delete(name).catch(() => undefined);
      throw e instanceof SandboxError
        ? e
        : new SandboxError('START_FAILED', `cannot start the sandbox of claim "${name}": ${(e as Error).message}`);
    }
  }

  /** The pod's runner: at its IP, or through agent-sandbox's router by the Sandbox's name. */
  private runnerRoute(podIP: string, sandboxName: string): Pick<RunnerEndpoint, 'dial' | 'where'> {
    const router = this.opts.router;
    if (!router) return { dial: tcpDial(podIP, this.opts.runnerPort), where: `${podIP}:${this.opts.runnerPort}` };
    const target = { ...router, sandbox: sandboxName, namespace: this.client.namespace, port: router.port ?? RUNTIME_API_PORT };
    return {
      dial: (timeoutMs) => openRouterTunnel(target, timeoutMs),
      where: `Sandbox "${sandboxName}" through the router at ${router.url}`,
    };
  }

  /** The token line's relay part: the pod's relay port and this server's bridge to the gateway, where the pod reaches it. */
  private async relaySuffix(podIP: string, hostSocket: string, podPort: number): Promise<string> {
    const host = await routeSourceTo(podIP);
    if (!host) throw new SandboxError('START_FAILED', `the gateway relay needs an IPv4 route to the pod (${podIP})`);
    const bridge = await this.bridges.addressFor(host, hostSocket);
    return ` relay=${podPort},${bridge.host}:${bridge.port}`;
  }

  /** The claims of this server that no session owns (at start-up: all of them) are deleted. */
  async cleanupLeftovers(): Promise<void> {
    const { items } = await this.client.list({ labelSelector: instanceSelector(this.opts.instanceId) });
    const owned = new Set([...this.live.values()].map((s) => s.claim));
    await Promise.all(
      items.filter((c) => !owned.has(c.metadata.name)).map((c) => this.client.delete(c.metadata.name).catch(() => undefined)),
    );
  }

  async pull(workspaceDir: string): Promise<void> {
    const sandbox = this.live.get(workspaceDir);
    if (sandbox) await sandbox.pullInto(workspaceDir);
  }

  /** @internal the sandbox's end: its claim goes, and with it the pod. */
  async release(sandbox: KubernetesSandbox, workspaceDir: string): Promise<void> {
    if (this.live.get(workspaceDir) === sandbox) this.live.delete(workspaceDir);
    await this.client
      .delete(sandbox.claim)
      .catch((e: Error) => this.opts.log?.({ claim: sandbox.claim, err: e.message }, 'cannot delete the sandbox claim'));
  }

  /** @internal pushes the claim's shutdownTime ahead. */
  async renew(claim: string): Promise<void> {
    await this.client.mergePatch(claim, { spec: { lifecycle: { shutdownTime: shutdownTime(this.opts.claimLeaseSeconds) } } });
  }

  get leaseSeconds(): number {
    return this.opts.claimLeaseSeconds;
  }
}

/**
 * The kernel's largest pid: as RLIMIT_NPROC, no limit. A pod's processes run as the template's
 * uid, the same in every pod on a node, and RLIMIT_NPROC counts that uid's processes node-wide:
 * a session limit there would let one pod's fork bomb stop every other pod from forking. The
 * pod's own pids cgroup (the kubelet's podPidsLimit) is what contains a bomb on Kubernetes.
 */
const NO_PROCESS_RLIMIT = 4_194_304;

/** The session's per-process limits for the runner (a warm pod started before the session was known). */
function limitsSuffix(l: SandboxLimits): string {
  const values = [NO_PROCESS_RLIMIT, l.addressSpaceBytes, l.fileSizeBytes, l.cpuSecondsPerProcess, l.openFiles, l.diskQuotaBytes];
  return ` limits=${values.map((v) => Math.max(1, Math.floor(v))).join(',')}`;
}

/**
 * Host files an agent needs (its binary) are not mounted into pods: the sandbox image carries
 * them at the same paths (server/deploy/images/sandbox.Dockerfile). Checked before the session
 * is handed out, so a missing one fails the start with its name.
 */
async function requireImageFiles(runner: RunnerClient, files: { sandboxPath: string }[]): Promise<void> {
  for (const f of files) {
    if (!/^\/[A-Za-z0-9._/-]+$/.test(f.sandboxPath))
      throw new SandboxError('START_FAILED', `cannot check ${JSON.stringify(f.sandboxPath)} in the pod`);
    const r = await runner.exec(`test -e '${f.sandboxPath}'`, {
      timeoutMs: 10_000,
      separateStderr: false,
      maxOutputBytes: 256,
      onOutput: () => undefined,
    }).result;
    if (r.exitCode !== 0) {
      throw new SandboxError(
        'START_FAILED',
        `the sandbox image has no ${f.sandboxPath}: on kubernetes the image must carry it (host files are not mounted into pods)`,
      );
    }
  }
}
