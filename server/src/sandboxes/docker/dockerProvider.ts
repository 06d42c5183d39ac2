// The Docker provider: one container per session, hardened by default
// (read-only root, no capabilities, no new privileges, no network, pids,
// memory and CPU limits, an unprivileged user), with af-runner as its first
// process, so sessions behave exactly as under bubblewrap. Any image with
// /bin/sh works: the runner is copied into a per-container volume before the
// container starts. Talks to the engine through dockerode (DOCKER_HOST or
// the default socket).
import { PassThrough, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import { readFileSync } from 'node:fs';
import { RunnerClient } from '../runnerProtocol';
import { EGRESS_SOCKET_PATH, GATEWAY_SOCKET_PATH, runnerArgs } from '../runnerFlags';
import { RunnerSandbox } from '../runnerSandbox';
import { SandboxError } from '../sandboxError';
import { withTimeout } from '../withTimeout';
import type { Sandbox, SandboxProvider, SandboxSpec, SandboxUsage } from '../sandboxProvider';

const TOOLS_DIR = '/.astraforge';
const RUNNER_PATH = `${TOOLS_DIR}/bin/af-runner`;
const START_TIMEOUT_MS = 30_000;
const LABEL_INSTANCE = 'astraforge.instance';
const LABEL_SESSION = 'astraforge.session';
/** The runner (the container's pid 1) is shielded from the OOM killer; it hands its commands 500. */
export const RUNNER_OOM_SCORE_ADJ = -900;
/**
 * The image names Sandkasten and toolkit clients ask for ("python" is the
 * Python SDK's default); the default image has what each promises (bash,
 * git, python3, node).
 */
const SDK_IMAGE_NAMES = ['base', 'python', 'node', 'sandbox-runtime:base', 'sandbox-runtime:python', 'sandbox-runtime:node'];

/** What the server's config may change; every default is the safe one. */
export interface DockerHardening {
  readOnlyRootfs: boolean;
  capDrop: string[];
  securityOpt: string[];
  networkMode: string;
}

export const DEFAULT_HARDENING: DockerHardening = {
  readOnlyRootfs: true,
  capDrop: ['ALL'],
  securityOpt: ['no-new-privileges'],
  networkMode: 'none',
};

export interface DockerProviderOptions {
  instanceId: string;
  runnerBinary: string;
  /** The image "default" (and unnamed sessions) use. */
  defaultImage: string;
  /** More names clients may ask for, mapped to image references. */
  images?: Record<string, string>;
  hardening?: Partial<DockerHardening>;
  /** Engine address (config.docker.host, which DOCKER_HOST fills); unset: dockerode's default socket. */
  dockerHost?: string;
}

function engine(target: string | undefined): Docker {
  // Loaded only when the docker provider is chosen: it stays out of the bundle (native
  // optional parts), and a server without it (the packaged extension) still starts.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Docker = require('dockerode') as typeof import('dockerode');
  if (!target) return new Docker();
  if (target.startsWith('unix://')) return new Docker({ socketPath: target.slice('unix://'.length) });
  const url = new URL(target.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375) });
}

export class DockerProvider implements SandboxProvider {
  readonly name = 'docker';
  readonly acceptsAnyImage = true;
  private readonly docker: Docker;
  private readonly hardening: DockerHardening;
  private readonly runnerTar: Promise<Buffer>;
  /** False once the engine refused a negative OomScoreAdj (it lacks CAP_SYS_RESOURCE): later containers start at 0. */
  private oomShield = true;

  private constructor(private readonly opts: DockerProviderOptions) {
    this.docker = engine(opts.dockerHost);
    this.hardening = { ...DEFAULT_HARDENING, ...opts.hardening };
    this.runnerTar = runnerArchive(opts.runnerBinary);
  }

  /** Connects to the engine, or fails with what to do when none answers. */
  static async connect(opts: DockerProviderOptions): Promise<DockerProvider> {
    const provider = new DockerProvider(opts);
    try {
      await provider.docker.ping();
    } catch (e) {
      const where = opts.dockerHost ?? 'unix:///var/run/docker.sock';
      throw new SandboxError(
        'START_FAILED',
        `no Docker engine answers at ${where} (${(e as Error).message}): start dockerd (scripts/setup-docker.sh does) or set DOCKER_HOST`,
      );
    }
    return provider;
  }

  images(): string[] {
    return ['default', ...SDK_IMAGE_NAMES, ...Object.keys(this.opts.images ?? {})];
  }

  /** A session's image: a configured name, a name the SDKs use, or any image reference the engine has. */
  private imageRef(name: string): string {
    const configured = this.opts.images?.[name];
    if (configured) return configured;
    if (name === 'default' || SDK_IMAGE_NAMES.includes(name)) return this.opts.defaultImage;
    return name;
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const image = this.imageRef(spec.image);
    try {
      await this.docker.getImage(image).inspect();
    } catch {
      throw new SandboxError(
        'INVALID_IMAGE',
        `no image "${image}" on the Docker engine; build it (scripts/build-sandbox-image.sh) or name one it has`,
      );
    }
    // Decided per attempt: sessions created together must not see another's fallback halfway through.
    const shielded = this.oomShield;
    try {
      return await this.start(image, spec, shielded);
    } catch (e) {
      if (!shielded || !(e instanceof SandboxError) || e.kind !== 'START_FAILED' || !/OCI runtime/.test(e.message)) throw e;
      // An engine without CAP_SYS_RESOURCE cannot lower a score (runc fails the start): run unshielded from now on.
      const sandbox = await this.start(image, spec, false).catch(() => {
        throw e;
      });
      this.oomShield = false;
      return sandbox;
    }
  }

  /** Whether containers get the runner's OOM shield (an engine may refuse it). */
  get shieldsRunnerFromOom(): boolean {
    return this.oomShield;
  }

  private async start(image: string, spec: SandboxSpec, shielded: boolean): Promise<Sandbox> {
    const oomScoreAdj = shielded ? RUNNER_OOM_SCORE_ADJ : 0;
    const container = await this.docker.createContainer(containerSpec(image, spec, this.hardening, this.opts.instanceId, oomScoreAdj));
    try {
      // The runner goes into the container's own tools volume: nothing of the host but the workspace is mounted.
      await container.putArchive(await this.runnerTar, { path: TOOLS_DIR });
      const stream = await container.attach({ stream: true, hijack: true, stdin: true, stdout: true, stderr: true });
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      this.docker.modem.demuxStream(stream, stdout, stderr);
      stream.on('end', () => {
        stdout.end();
        stderr.end();
      });
      let errText = '';
      stderr.on('data', (d: Buffer) => {
        if (errText.length < 4096) errText += d.toString();
      });
      const runner = new RunnerClient(stream as unknown as Duplex, stdout);
      await container.start();
      try {
        await withTimeout(runner.ready, START_TIMEOUT_MS);
      } catch (e) {
        throw new SandboxError('START_FAILED', `the container did not start its runner: ${errText.trim() || (e as Error).message}`);
      }
      return new DockerSandbox(container, runner);
    } catch (e) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      throw e instanceof SandboxError ? e : new SandboxError('START_FAILED', `cannot start the container: ${(e as Error).message}`);
    }
  }

  /** After a crash: the containers this server instance created are found by label and removed. */
  async cleanupLeftovers(): Promise<void> {
    const leftovers = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_INSTANCE}=${this.opts.instanceId}`] } });
    await Promise.all(
      leftovers.map((c) =>
        this.docker
          .getContainer(c.Id)
          .remove({ force: true, v: true })
          .catch(() => undefined),
      ),
    );
  }
}

export function containerSpec(
  image: string,
  spec: SandboxSpec,
  h: DockerHardening,
  instanceId: string,
  oomScoreAdj = RUNNER_OOM_SCORE_ADJ,
): Docker.ContainerCreateOptions {
  const limits = spec.limits;
  const binds = [`${spec.workspaceDir}:/workspace:rw`];
  for (const f of spec.attachments?.readOnlyFiles ?? []) binds.push(`${f.hostPath}:${f.sandboxPath}:ro`);
  const relay = spec.attachments?.loopbackRelay;
  if (relay) binds.push(`${relay.hostSocket}:${GATEWAY_SOCKET_PATH}:ro`);
  const egress = spec.attachments?.egressRelay;
  if (egress) binds.push(`${egress.hostSocket}:${EGRESS_SOCKET_PATH}:ro`);
  return {
    Image: image,
    // bash where the image has it (the stateful shell reads best in it), else /bin/sh.
    Entrypoint: [
      '/bin/sh',
      '-c',
      `if [ -x /bin/bash ]; then s=/bin/bash; else s=/bin/sh; fi; exec ${RUNNER_PATH} --shell "$s" "$@"`,
      'af-runner',
    ],
    Cmd: runnerArgs(limits, relay?.port, egress?.port),
    User: `${spec.hostUid}:${spec.hostUid}`,
    WorkingDir: '/workspace',
    Hostname: 'sandbox',
    Env: [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOME=/home/sandbox',
      'LANG=C.UTF-8',
      'TERM=dumb',
      'TMPDIR=/tmp',
      ...Object.entries(spec.attachments?.environment ?? {}).map(([name, value]) => `${name}=${value}`),
    ],
    Labels: { [LABEL_INSTANCE]: instanceId, [LABEL_SESSION]: spec.sessionId },
    OpenStdin: true,
    StdinOnce: false,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    NetworkDisabled: h.networkMode === 'none',
    HostConfig: {
      Binds: binds,
      // The tools volume: created empty with the container, removed with it.
      Mounts: [{ Type: 'volume', Source: '', Target: TOOLS_DIR, ReadOnly: false }],
      Tmpfs: {
        '/tmp': `rw,nosuid,nodev,size=${limits.tmpBytes},mode=1777`,
        '/home/sandbox': `rw,nosuid,nodev,size=${64 * 1024 * 1024},mode=1777`,
      },
      ReadonlyRootfs: h.readOnlyRootfs,
      CapDrop: h.capDrop,
      SecurityOpt: h.securityOpt,
      NetworkMode: h.networkMode,
      PidsLimit: limits.pids,
      Memory: limits.memoryBytes,
      MemorySwap: limits.memoryBytes,
      NanoCpus: Math.round(limits.cpus * 1e9),
      OomScoreAdj: oomScoreAdj,
      Ulimits: [
        { Name: 'nofile', Soft: limits.openFiles, Hard: limits.openFiles },
        { Name: 'fsize', Soft: limits.fileSizeBytes, Hard: limits.fileSizeBytes },
      ],
      AutoRemove: false,
      Init: false,
    },
  };
}

class DockerSandbox extends RunnerSandbox {
  readonly exited: Promise<void>;

  constructor(
    private readonly container: Docker.Container,
    runner: RunnerClient,
  ) {
    super(runner);
    // Exited once the runner is closed too, so whoever watches this learns why (a frame cut short) and not only that.
    this.exited = container
      .wait()
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        runner.sandboxExited();
        return runner.whenClosed;
      });
  }

  /** From the container's own cgroup, as the engine reports it. */
  async usage(): Promise<SandboxUsage> {
    const s = (await this.container.stats({ stream: false })) as unknown as {
      memory_stats?: { usage?: number; limit?: number };
      cpu_stats?: { cpu_usage?: { total_usage?: number } };
    };
    return {
      memoryBytes: s.memory_stats?.usage ?? 0,
      memoryLimit: s.memory_stats?.limit,
      cpuUsageUsec: Math.round((s.cpu_stats?.cpu_usage?.total_usage ?? 0) / 1000),
    };
  }

  async destroy(): Promise<void> {
    this.runner.close(new SandboxError('SANDBOX_GONE', 'the session was destroyed'));
    await this.container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

/** af-runner as a one-file tar for putArchive: bin/af-runner, executable by every uid. */
async function runnerArchive(runnerBinary: string): Promise<Buffer> {
  const tar = pack();
  tar.entry({ name: 'bin', type: 'directory', mode: 0o755 });
  tar.entry({ name: 'bin/af-runner', mode: 0o755 }, readFileSync(runnerBinary));
  tar.finalize();
  const parts: Buffer[] = [];
  for await (const c of tar) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
