// The provider interface: what the session layer needs from any sandbox
// technology (bubblewrap now; Docker and Kubernetes plug in here later).
import type { RunnerExecOptions, RunnerExecResult } from './runnerProtocol';
import type { SandboxError } from './sandboxError';

export interface SandboxLimits {
  /** Memory for the whole sandbox (cgroup), bytes. */
  memoryBytes: number;
  /** Processes and threads in the sandbox. */
  pids: number;
  /** CPU share as a number of cores (cgroup quota). */
  cpus: number;
  /** Per-process floors applied with setrlimit inside the sandbox. */
  fileSizeBytes: number;
  cpuSecondsPerProcess: number;
  addressSpaceBytes: number;
  openFiles: number;
  /** Disk the workspace may use, bytes; the runner kills the session's processes beyond it. */
  diskQuotaBytes: number;
  /** Size of the private /tmp (memory-backed), bytes. */
  tmpBytes: number;
}

/** What a run's sandbox gets beyond a plain session (the agent's binary, the way to the model gateway). */
export interface SandboxAttachments {
  /** Host files made visible read-only at an absolute path in the sandbox. */
  readOnlyFiles?: { hostPath: string; sandboxPath: string }[];
  /** A host unix socket the sandbox reaches as TCP on its own 127.0.0.1:port, its only way out. */
  loopbackRelay?: { hostSocket: string; port: number };
  /** The sandbox's egress proxy (a host unix socket of its own), relayed to its 127.0.0.1:port; only with network. */
  egressRelay?: { hostSocket: string; port: number };
  /** Variables every process in the sandbox starts with (the proxy settings). */
  environment?: Record<string, string>;
}

export interface SandboxSpec {
  sessionId: string;
  image: string;
  /** Host folder mounted at /workspace, owned by hostUid. */
  workspaceDir: string;
  /** The unprivileged host uid (and gid) the sandbox runs as. */
  hostUid: number;
  limits: SandboxLimits;
  /**
   * The memory and CPU the session itself asked for (only those it named),
   * already within `limits`. Where the size comes from a template rather
   * than from `limits` (Kubernetes), the provider sizes the sandbox by it.
   */
  askedSize?: Partial<Pick<SandboxLimits, 'memoryBytes' | 'cpus'>>;
  attachments?: SandboxAttachments;
}

export interface SandboxUsage {
  memoryBytes: number;
  memoryLimit?: number;
  cpuUsageUsec: number;
}

export interface RunningExec {
  id: number;
  result: Promise<RunnerExecResult>;
}

export interface Sandbox {
  /** Resolves when the sandbox stops, for whatever reason. */
  readonly exited: Promise<void>;
  /** Set when the sandbox ended because its runner broke the protocol (the reason to record). */
  readonly failure: SandboxError | undefined;
  exec(cmd: string, opts: RunnerExecOptions): RunningExec;
  kill(execId: number): void;
  /**
   * The workspace is over its disk quota (measured from the host): kill every
   * process in the sandbox but the runner; running execs end flagged quota-killed.
   */
  enforceQuota(message: string): void;
  readFile(absPath: string, maxBytes: number): Promise<{ content: Buffer; truncated: boolean }>;
  writeFile(absPath: string, data: Buffer): Promise<void>;
  /** Writes a host file's bytes (a spooled upload) without holding them in memory whole. */
  writeFileFromHost(absPath: string, hostFile: string): Promise<void>;
  usage(): Promise<SandboxUsage>;
  destroy(): Promise<void>;
}

export interface SandboxProvider {
  readonly name: string;
  /** Image names this provider accepts; the first is the default. */
  images(): string[];
  /** Also any other name, which create() checks itself (Docker: whatever image the engine has). */
  readonly acceptsAnyImage?: boolean;
  create(spec: SandboxSpec): Promise<Sandbox>;
  /** After a restart: removes whatever a previous server process left behind for these uids. */
  cleanupLeftovers(hostUids: number[]): Promise<void>;
}
